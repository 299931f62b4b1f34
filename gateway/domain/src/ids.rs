//! Identifiers. UUIDv7 so they sort by creation time in the store and in logs.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($name:ident, $prefix:literal) => {
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id made of `uuid` (minted by an [`crate::IdGenerator`]).
            pub fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(format!(concat!($prefix, "_{}"), uuid.simple()))
            }

            /// Parses an id from outside the process; rejects anything not shaped like one of ours.
            pub fn parse(s: &str) -> Option<Self> {
                let rest = s.strip_prefix(concat!($prefix, "_"))?;
                (rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A short, filesystem- and cgroup-safe form (the hex part).
            pub fn short(&self) -> &str {
                &self.0[$prefix.len() + 1..]
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub(crate) use id_type;

id_type!(SessionId, "ses");
id_type!(ExecutionId, "exe");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = SessionId::from_uuid(uuid::Uuid::from_u128(
            0x0190_1234_5678_7abc_8def_0123_4567_89ab,
        ));
        assert_eq!(SessionId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id.short().len(), 32);
        assert!(SessionId::parse("ses_../../etc").is_none());
        assert!(SessionId::parse(ExecutionId::from_uuid(uuid::Uuid::nil()).as_str()).is_none());
        assert!(SessionId::parse("").is_none());
    }
}
