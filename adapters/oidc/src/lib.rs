#![doc = include_str!("../README.md")]
//!
//! # Layout
//! - [`config`]: the `OIDC_*` settings ([`OidcConfig`]).
//! - `discovery`: the provider's metadata ([`ProviderMetadata`]).
//! - `flow`: [`Oidc`] (`discover`, `begin`, `finish`), [`PendingLogin`], [`Callback`],
//!   [`SignedIn`], [`OidcError`].
//! - `pkce`: the PKCE `S256` challenge and the random values of a sign-in.
//! - `http`: the bounded HTTP(S) client that talks to the provider.

pub mod config;
mod discovery;
mod flow;
mod http;
mod pkce;

pub use config::{OidcConfig, OidcConfigError};
pub use discovery::ProviderMetadata;
pub use flow::{Callback, Oidc, OidcError, PendingLogin, SCOPES, SignedIn};
