//! The server's request bodies, `/predict` (TEI's) and `/` (the HF inference API's): parsed to a
//! request or refused with a client error (4xx), never a server error.
#![no_main]
use axum::response::IntoResponse;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use xlmr_sentiment::server::api::{HfRequest, PredictRequest};
use xlmr_sentiment_fuzz::{counting_allocator, within_bound, MIB};
counting_allocator!();

fuzz_target!(|input: &[u8]| {
    let [route, body @ ..] = input else { return };
    let bytes = Bytes::copy_from_slice(body);
    within_bound("request body", body.len(), 64, MIB, || {
        let refused = if route % 2 == 0 {
            match PredictRequest::parse(Ok(bytes), route & 2 == 2) {
                Ok(request) => {
                    assert!(!request.texts.is_empty());
                    assert!(request.batch || request.texts.len() == 1);
                    return;
                }
                Err(e) => e,
            }
        } else {
            match HfRequest::parse(Ok(bytes)) {
                Ok(request) => {
                    assert!(!request.texts.is_empty());
                    return;
                }
                Err(e) => e,
            }
        };
        let status = refused.into_response().status();
        assert!(status.is_client_error(), "refused with {status}");
    });
});
