// Runs one Rust test binary (wasm32-wasip1) in the page through a WASI shim and leaves the
// outcome in `window.testRun`: { exitCode, output } or { error, output }.
// The binary and its arguments come from the query: ?wasm=/bin/NAME.wasm&arg=...&arg=...
import { WASI, File, OpenFile, ConsoleStdout } from "/shim/index.js";

const query = new URLSearchParams(location.search);
const output = [];
const line = (stream) => ConsoleStdout.lineBuffered((text) => output.push(`${stream}${text}`));
const wasi = new WASI(["test.wasm", ...query.getAll("arg")], [], [
  new OpenFile(new File([])),
  line(""),
  line("[stderr] "),
]);
try {
  const module = await WebAssembly.compileStreaming(fetch(query.get("wasm")));
  const instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: wasi.wasiImport });
  window.testRun = { exitCode: wasi.start(instance), output };
} catch (error) {
  // A failed test aborts (panics are `abort` on wasip1): the trap lands here.
  window.testRun = { error: String(error), output };
}
