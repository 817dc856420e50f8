//! The OpenAPI 3.1 document of every route, derived from the request and answer types in
//! [`super::api`] and the `#[utoipa::path]` of each handler in [`super::routes`], served at
//! `/openapi.json` with Swagger UI at `/docs` (vendored in the binary: the page works offline).
//! `docs/openapi.json` is this document, checked by a test.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::api;
use super::routes;

/// The document: every route, its request and every answer, errors included.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "xlmr-sentiment",
        description = "Sentiment classification with an XLM-RoBERTa sequence classifier, on this \
            machine. `POST /predict` follows text-embeddings-inference; `POST /` follows the \
            Hugging Face inference API's text-classification task. With `--api-key`, every \
            route but `/health`, `/ready`, `/openapi.json` and `/docs` needs \
            `Authorization: Bearer <key>`."
    ),
    paths(
        routes::predict,
        routes::hf_inference,
        routes::info,
        routes::health,
        routes::ready,
        routes::metrics
    ),
    components(schemas(
        api::ErrorResponse,
        api::ErrorType,
        api::PredictBody,
        api::PredictInputs,
        api::TruncationDirection,
        api::PredictResponse,
        api::Prediction,
        api::HfBody,
        api::HfInputs,
        api::HfParameters,
        api::FunctionToApply,
        api::HfResponse,
        api::HfPrediction,
        api::Info,
        api::ModelInfo,
        api::DeviceInfo,
        api::ModelType,
        api::ClassifierInfo
    )),
    modifiers(&BearerKey),
    tags(
        (name = "classification", description = "Classify texts"),
        (name = "model", description = "The model and the server's limits"),
        (name = "operations", description = "Probes and metrics")
    )
)]
pub struct ApiDoc;

/// The `api_key` security scheme: `Authorization: Bearer <key>` (`--api-key`).
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The server's --api-key, when it has one"))
                    .build(),
            ),
        );
    }
}

/// The document as JSON, pretty-printed as `docs/openapi.json` holds it.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

/// `/openapi.json` and the Swagger UI page at `/docs`, without the validator badge (it calls
/// validator.swagger.io: nothing here calls out).
pub(crate) fn routes() -> SwaggerUi {
    SwaggerUi::new("/docs")
        .url("/openapi.json", ApiDoc::openapi())
        .config(
            Config::from("/openapi.json")
                .validator_url("none")
                .try_it_out_enabled(true)
                .display_request_duration(true),
        )
}

#[cfg(test)]
mod tests {
    /// `docs/openapi.json` is what the server serves; `UPDATE_OPENAPI=1 cargo test -p
    /// xlmr-sentiment --lib openapi` rewrites it after a change to the API.
    #[test]
    fn committed_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        let current = super::document() + "\n";
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &current).unwrap();
        }
        let committed = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (UPDATE_OPENAPI=1 writes it)"));
        assert!(
            committed == current,
            "docs/openapi.json is not the server's document: run \
             UPDATE_OPENAPI=1 cargo test -p xlmr-sentiment --lib openapi, then review the diff"
        );
    }
}
