//! Calls into the parquet crate's decoders, with a panic turned into an error. The crate still
//! panics on some damaged pages instead of returning an error (parquet 59.3.3, and 60.2.0:
//! `PlainDecoder` for byte arrays slices past a dictionary page that declares more values than
//! it holds, `util/bit_util.rs:252`; apache/arrow-rs#9742 tracks the class). A data file is user
//! input, so such a page must be refused with a message, not end the process.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Set while this thread runs a contained call, whose panic is reported as an error instead.
    static CONTAINING: Cell<bool> = const { Cell::new(false) };
}

static QUIET_HOOK: Once = Once::new();

/// Runs `decode`; a panic inside it becomes `Err` with the panic's message. The panic hook stays
/// silent for it (the message reaches the user once, in the error), and is unchanged for every
/// other panic. Needs `panic = "unwind"`, the default of every profile here.
pub(crate) fn contained<T>(decode: impl FnOnce() -> T) -> Result<T, String> {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CONTAINING.get() {
                previous(info);
            }
        }));
    });
    let outer = CONTAINING.replace(true);
    let result = panic::catch_unwind(AssertUnwindSafe(decode));
    CONTAINING.set(outer);
    result.map_err(|payload| message(&*payload))
}

fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use super::contained;

    #[test]
    fn a_panic_becomes_its_message_and_a_value_passes_through() {
        assert_eq!(contained(|| 7), Ok(7));
        assert_eq!(
            contained(|| -> u8 { panic!("page {} is short", 3) }),
            Err("page 3 is short".to_string())
        );
        let slice: &[u8] = &[1, 2];
        let at = slice.len() + 2;
        let error = contained(|| slice[..at].len()).unwrap_err();
        assert!(error.contains("out of range"), "{error}");
        // Containment ends with the call: nested calls restore the outer state.
        assert_eq!(contained(|| contained(|| 1)), Ok(Ok(1)));
    }
}
