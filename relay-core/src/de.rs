//! Smaller readers than serde's derived ones, for the types the page reads
//! (its weight goal is 200 KiB): the JSON they accept and the errors they
//! give are serde's, but each costs the page less code. Serde's derive
//! reads a struct from an array too (a form no one writes), and an enum's
//! name through a visitor of its own.

use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Reads a unit enum's variant as its name, one of `names` (the names serde
/// writes, in the enum's order): the index of the name read.
pub(crate) fn variant_index<'de, D: Deserializer<'de>>(
    deserializer: D,
    names: &'static [&'static str],
) -> Result<usize, D::Error> {
    let name = String::deserialize(deserializer)?;
    names.iter().position(|n| *n == name).ok_or_else(|| de::Error::unknown_variant(&name, names))
}

/// Implements `Deserialize` for a unit enum through [`variant_index`]; the
/// names must be serde's, in order (`step`'s tests check the round trip).
macro_rules! deserialize_by_name {
    ($ty:ident { $($variant:ident = $name:literal),+ $(,)? }) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                // Every variant must be listed: a new one fails to compile here.
                let _every_variant = |v: $ty| match v {
                    $($ty::$variant => ()),+
                };
                const ALL: &[$ty] = &[$($ty::$variant),+];
                Ok(ALL[$crate::de::variant_index(deserializer, &[$($name),+])?])
            }
        }
    };
}
pub(crate) use deserialize_by_name;

/// What a field missing from the JSON reads as, as serde's derive has it:
/// `None` for an `Option`, else the error "missing field `name`".
pub(crate) fn missing<'de, T: Deserialize<'de>, E: de::Error>(name: &'static str) -> Result<T, E> {
    struct Missing<E>(&'static str, PhantomData<E>);
    impl<'de, E: de::Error> Deserializer<'de> for Missing<E> {
        type Error = E;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, E> {
            Err(de::Error::missing_field(self.0))
        }
        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
            visitor.visit_none()
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
            unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
        }
    }
    T::deserialize(Missing(name, PhantomData))
}

/// Implements `Deserialize` for a struct read from a JSON object, as serde's
/// derive does (unknown fields skipped, a repeated one refused, a missing
/// `Option` is `None`, `field = expr` for `#[serde(default)]`), without the
/// derive's second reader for arrays. List every field, in order.
macro_rules! deserialize_from_map {
    ($ty:ident { $($field:ident $(= $default:expr)?),+ $(,)? }) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Fields;
                impl<'de> serde::de::Visitor<'de> for Fields {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(concat!("struct ", stringify!($ty)))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$ty, A::Error> {
                        $(let mut $field = None;)+
                        while let Some(key) = map.next_key::<String>()? {
                            match key.as_str() {
                                $(stringify!($field) => {
                                    if $field.is_some() {
                                        return Err(serde::de::Error::duplicate_field(stringify!($field)));
                                    }
                                    $field = Some(map.next_value()?);
                                })+
                                _ => {
                                    map.next_value::<serde::de::IgnoredAny>()?;
                                }
                            }
                        }
                        Ok($ty {
                            $($field: match $field {
                                Some(value) => value,
                                None => $crate::de::deserialize_from_map!(@missing $field $(= $default)?),
                            },)+
                        })
                    }
                }
                deserializer.deserialize_map(Fields)
            }
        }
    };
    (@missing $field:ident = $default:expr) => { $default };
    (@missing $field:ident) => { $crate::de::missing(stringify!($field))? };
}
pub(crate) use deserialize_from_map;

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    /// The same struct twice: read by serde's derive, and by the macro.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Derived {
        name: String,
        count: u32,
        note: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        on: bool,
    }

    #[derive(Debug, PartialEq)]
    struct Mapped {
        name: String,
        count: u32,
        note: Option<String>,
        tags: Vec<String>,
        on: bool,
    }
    deserialize_from_map!(Mapped { name, count, note, tags = Vec::new(), on = false });

    #[test]
    fn structs_read_as_serde_derive_reads_them() {
        for json in [
            r#"{"name":"a","count":1,"note":"n","tags":["x"],"on":true}"#,
            r#"{"count":2,"name":"b"}"#,
            r#"{"name":"c","count":3,"note":null,"unknown":{"deep":[1,2]}}"#,
            r#"{"name":"d"}"#,
            r#"{"count":4}"#,
            r#"{"name":"e","count":5,"name":"f"}"#,
            r#"{"name":"g","count":"six"}"#,
            r#"{"name":"h","count":7,"tags":"not a list"}"#,
            r#""a string""#,
            r#"{"name":"i","count":8"#,
        ] {
            let derived = serde_json::from_str::<Derived>(json);
            let mapped = serde_json::from_str::<Mapped>(json);
            match (derived, mapped) {
                (Ok(d), Ok(m)) => {
                    assert_eq!((d.name, d.count, d.note, d.tags, d.on), (m.name, m.count, m.note, m.tags, m.on))
                }
                (Err(d), Err(m)) => {
                    assert_eq!(d.to_string().replace("Derived", "Mapped"), m.to_string(), "{json}")
                }
                (d, m) => panic!("{json}: {d:?} but {m:?}"),
            }
        }
    }
}
