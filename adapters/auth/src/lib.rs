#![doc = include_str!("../README.md")]
//!
//! # Layout
//! - [`config`]: the `AUTH_*` settings ([`AuthConfig`]).
//! - [`JwtVerifier`] (`verifier`): the [`todo_ports::TokenVerifier`] of signed JWTs.
//! - `jwks`: the key set's fetch and cache ([`JwksError`] when it cannot be had).
//! - [`guard`] and [`Guard`] (`guard`): the axum layer tying routes to their caller.
//! - [`HsSigner`] (`mint`): HS256 tokens under the shared secret, for development sign-ins.
//! - [`testing`] (feature `testing`): a test issuer minting tokens and serving its key set.

pub mod config;
mod guard;
mod jwks;
mod mint;
#[cfg(feature = "testing")]
pub mod testing;
mod verifier;

pub use config::{AuthConfig, AuthConfigError, JwksOptions, JwtConfig, KeySource};
pub use guard::{Guard, WhenUnconfigured, guard};
pub use jwks::JwksError;
pub use mint::{HsSigner, MintError, Minted};
pub use verifier::{JwtVerifier, MAX_TOKEN_BYTES};
