//! The JSON body of one Graph answer, kept as its text and parsed on demand. The hot reads
//! (a user, a methods list) parse the text straight into their typed structs
//! ([`super::methods`]), which saves building and freeing a `Value` tree per answer; anything
//! else derefs the body to a [`Value`], parsed once on first use.

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON body: its text as received, and the [`Value`] it parses to (on first deref).
#[derive(Clone, Default)]
pub struct Body {
    raw: Option<Box<RawValue>>,
    value: OnceLock<Value>,
}

impl Body {
    /// The body's text as received, when it came from the wire.
    pub fn raw(&self) -> Option<&str> {
        self.raw.as_deref().map(RawValue::get)
    }

    /// The body as a [`Value`].
    pub fn into_value(self) -> Value {
        match self.value.into_inner() {
            Some(value) => value,
            None => parse(self.raw.as_deref()),
        }
    }

    /// The body parsed into `T` straight from its text, when it has a text and that parses;
    /// `None` otherwise (the caller then reads the [`Value`], whose errors it reports).
    pub fn typed<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(self.raw()?).ok()
    }
}

fn parse(raw: Option<&RawValue>) -> Value {
    // The text was checked as JSON when the envelope was parsed, so this does not fail.
    raw.and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or(Value::Null)
}

impl Deref for Body {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value.get_or_init(|| parse(self.raw.as_deref()))
    }
}

impl From<Value> for Body {
    fn from(value: Value) -> Self {
        Body {
            raw: None,
            value: OnceLock::from(value),
        }
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Body {
            raw: Some(Box::<RawValue>::deserialize(deserializer)?),
            value: OnceLock::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Item {
        id: String,
        #[serde(default)]
        body: Body,
    }

    #[test]
    fn a_body_keeps_its_text_and_derefs_to_its_value() {
        let item: Item = serde_json::from_str(r#"{"id":"1","body":{"a":[1,"x"]}}"#).unwrap();
        assert_eq!(item.body.raw(), Some(r#"{"a":[1,"x"]}"#));
        assert_eq!(*item.body, json!({"a": [1, "x"]}));
        assert_eq!(item.body.clone().into_value(), json!({"a": [1, "x"]}));
        assert_eq!(item.body, Body::from(json!({"a": [1, "x"]})));
    }

    #[test]
    fn an_absent_body_is_null_and_has_no_text() {
        let item: Item = serde_json::from_str(r#"{"id":"1"}"#).unwrap();
        assert!(item.body.is_null());
        assert_eq!(item.body.raw(), None);
        assert_eq!(item.body.typed::<Value>(), None);
    }

    #[test]
    fn typed_parses_the_text_or_gives_none() {
        let item: Item = serde_json::from_str(r#"{"id":"1","body":{"id":"u"}}"#).unwrap();
        #[derive(Deserialize)]
        struct User {
            id: String,
        }
        assert_eq!(
            item.body.typed::<User>().map(|u| u.id).as_deref(),
            Some("u")
        );
        #[derive(Deserialize)]
        struct Other {
            #[serde(rename = "missing")]
            _missing: String,
        }
        assert!(item.body.typed::<Other>().is_none());
    }
}
