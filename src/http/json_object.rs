//! `JsonObject<T>`: a JSON body that must be an object. serde's derive also reads a struct from an
//! array (`[null, null]` fills two optional fields), which the OpenAPI schema does not allow.

use super::ApiError;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The body, read as a JSON object and then as `T`.
pub struct JsonObject<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Size, content type and syntax errors come from the `Json` extractor's handler, as everywhere.
        let object = web::Json::<Map<String, Value>>::from_request(req, payload);
        Box::pin(async move {
            let object = object.await?.into_inner();
            serde_json::from_value(Value::Object(object))
                .map(JsonObject)
                .map_err(|e| ApiError::bad_request("invalid_json", format!("invalid JSON body: {e}")).into())
        })
    }
}
