//! The claim mapping lives in the domain (config carries it, auth applies it).

pub use airlock_gateway_domain::principal::ClaimMapping;
