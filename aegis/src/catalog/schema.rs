//! JSON Schemas of the types handlers take and answer, for any type: generated code asks a
//! [`SchemaProbe`], which has a schema with the `schemars` feature and a type that implements
//! `schemars::JsonSchema`, and none otherwise. The macro cannot see this crate's features nor
//! whether a type implements the trait, so the choice is made by method resolution
//! (autoref specialisation): `(&&SchemaProbe::<T>::new()).schema(..)` finds
//! [`ViaJsonSchema`] on `&SchemaProbe<T>` first when `T: JsonSchema`, else [`NoSchema`] on
//! `SchemaProbe<T>` after one auto-deref. Works on concrete types only, which is all the
//! macro writes. Not public API.

use std::marker::PhantomData;

use serde_json::Value;

/// Which side of serde the schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// What the service accepts (payloads): `schemars`'s deserialize contract.
    Deserialize,
    /// What the service sends (results).
    Serialize,
}

/// Asks for `T`'s schema, see the module docs.
#[derive(Debug)]
pub struct SchemaProbe<T: ?Sized>(PhantomData<fn() -> PhantomData<T>>);

impl<T: ?Sized> SchemaProbe<T> {
    /// A probe of `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        SchemaProbe(PhantomData)
    }
}

/// The schema of a `T: JsonSchema` (with the `schemars` feature).
pub trait ViaJsonSchema {
    /// `T`'s JSON Schema, draft 7.
    fn schema(&self, contract: Contract) -> Option<Value>;
}

/// No schema: the fallback for every other type.
pub trait NoSchema {
    /// `None`.
    fn schema(&self, contract: Contract) -> Option<Value>;
}

impl<T: ?Sized> NoSchema for SchemaProbe<T> {
    fn schema(&self, _: Contract) -> Option<Value> {
        None
    }
}

#[cfg(feature = "schemars")]
impl<T: ?Sized + schemars::JsonSchema> ViaJsonSchema for &SchemaProbe<T> {
    fn schema(&self, contract: Contract) -> Option<Value> {
        // Draft 7: what AsyncAPI's schema format extends.
        let mut settings = schemars::generate::SchemaSettings::draft07();
        settings.contract = match contract {
            Contract::Deserialize => schemars::generate::Contract::Deserialize,
            Contract::Serialize => schemars::generate::Contract::Serialize,
        };
        Some(
            settings
                .into_generator()
                .into_root_schema_for::<T>()
                .to_value(),
        )
    }
}

// The borrows choose the impl, as in generated code.
#[cfg(test)]
#[allow(clippy::needless_borrow)]
mod tests {
    #[allow(unused_imports)]
    use super::{Contract, NoSchema, SchemaProbe, ViaJsonSchema};

    struct Opaque;

    #[test]
    fn a_type_without_json_schema_has_no_schema() {
        assert_eq!(
            (&&SchemaProbe::<Opaque>::new()).schema(Contract::Deserialize),
            None
        );
    }

    #[test]
    fn a_json_schema_type_has_one_with_the_feature() {
        let schema = (&&SchemaProbe::<Vec<u32>>::new()).schema(Contract::Serialize);
        if cfg!(feature = "schemars") {
            let schema = schema.expect("a schema");
            assert_eq!(schema["type"], "array");
            assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        } else {
            assert_eq!(schema, None);
        }
    }
}
