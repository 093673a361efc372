//! JSON bodies read the way the OpenAPI document promises: `JsonObject<T>` must be an object (serde's
//! derive also reads a struct from an array: `[null, null]` fills two optional fields), and integers
//! may be written `7` or `7.0` (JSON Schema's `integer` allows both).

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

/// A JSON number that is a whole number, written `7` or `7.0`.
pub(super) fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    whole(<serde_json::Number as serde::Deserialize>::deserialize(deserializer)?)
}

/// A whole number or `null`, with an absent field told apart: `Some(None)` is an explicit `null`.
pub(super) fn nullable_whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<i64>>, D::Error> {
    let number = <Option<serde_json::Number> as serde::Deserialize>::deserialize(deserializer)?;
    number.map(whole).transpose().map(Some)
}

fn whole<E: serde::de::Error>(number: serde_json::Number) -> Result<i64, E> {
    number
        .as_i64()
        .or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
        .ok_or_else(|| E::custom(format!("{number} is not a whole number")))
}
