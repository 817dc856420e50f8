// Self-attention on packed texts: one workgroup of 64 threads per (query token, head). Each
// query attends to the tokens of its own text only (its span), so there is no padding or mask.
// qkv is [tokens, 3 * hidden]: queries, keys and values side by side, as the fused product
// writes them.

struct Params {
    heads: u32,
    head_dim: u32,
    hidden: u32,
    // Jobs: queries x heads. A job's index is x + y * groups_x.
    jobs: u32,
    groups_x: u32,
    scale: f32,
}

struct Query {
    // The query's row in qkv, its text's first row and length, and the row it writes.
    token: u32,
    start: u32,
    len: u32,
    out_row: u32,
}

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> queries: array<Query>;
@group(0) @binding(2) var<storage, read_write> attended: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// The longest text the GPU path takes (XLM-R's 512 tokens); longer ones run on the CPU.
const MAX_KEYS: u32 = 512u;

var<workgroup> scores: array<f32, 512>;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
    let job = group.x + group.y * p.groups_x;
    if (job >= p.jobs) {
        return;
    }
    let q = queries[job / p.heads];
    let head = job % p.heads;
    let stride = 3u * p.hidden;
    let column = head * p.head_dim;
    let query = q.token * stride + column;
    let len = min(q.len, MAX_KEYS);

    var high = -3.4e38;
    for (var k = local.x; k < len; k += 64u) {
        let key = (q.start + k) * stride + p.hidden + column;
        var product = 0.0;
        for (var d = 0u; d < p.head_dim; d++) {
            product = fma(qkv[query + d], qkv[key + d], product);
        }
        let s = product * p.scale;
        scores[k] = s;
        high = max(high, s);
    }
    partial[local.x] = high;
    workgroupBarrier();
    for (var width = 32u; width > 0u; width >>= 1u) {
        if (local.x < width) {
            partial[local.x] = max(partial[local.x], partial[local.x + width]);
        }
        workgroupBarrier();
    }
    let top = partial[0];
    workgroupBarrier();

    var sum = 0.0;
    for (var k = local.x; k < len; k += 64u) {
        let e = exp(scores[k] - top);
        scores[k] = e;
        sum += e;
    }
    partial[local.x] = sum;
    workgroupBarrier();
    for (var width = 32u; width > 0u; width >>= 1u) {
        if (local.x < width) {
            partial[local.x] += partial[local.x + width];
        }
        workgroupBarrier();
    }
    let total = partial[0];

    for (var d = local.x; d < p.head_dim; d += 64u) {
        var acc = 0.0;
        for (var k = 0u; k < len; k++) {
            acc = fma(scores[k], qkv[(q.start + k) * stride + 2u * p.hidden + column + d], acc);
        }
        attended[q.out_row * p.hidden + column + d] = acc / total;
    }
}
