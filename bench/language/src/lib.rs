//! The wasm size probe: `detect(ptr, len) -> u32` over UTF-8 text, with whichever detector is
//! enabled, so the release `.wasm` holds the detector and its data and little else.

/// Memory for the caller's text.
#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let mut buffer = Vec::<u8>::with_capacity(len);
    let ptr = buffer.as_mut_ptr();
    std::mem::forget(buffer);
    ptr
}

/// An index of the detected language (0: none).
///
/// # Safety
/// `ptr` must point to `len` bytes the caller owns.
#[no_mangle]
pub unsafe extern "C" fn detect(ptr: *const u8, len: usize) -> u32 {
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    let text = std::str::from_utf8(bytes).unwrap_or("");
    detect_text(text)
}

#[cfg(feature = "whatlang")]
fn detect_text(text: &str) -> u32 {
    whatlang::detect_lang(text).map_or(0, |l| l as u32 + 1)
}

#[cfg(all(feature = "lingua", not(feature = "whatlang")))]
fn detect_text(text: &str) -> u32 {
    use std::sync::OnceLock;
    static DETECTOR: OnceLock<lingua::LanguageDetector> = OnceLock::new();
    let detector =
        DETECTOR.get_or_init(|| lingua::LanguageDetectorBuilder::from_all_languages().build());
    detector
        .detect_language_of(text)
        .map_or(0, |l| l as u32 + 1)
}

#[cfg(not(any(feature = "whatlang", feature = "lingua")))]
fn detect_text(_: &str) -> u32 {
    0
}
