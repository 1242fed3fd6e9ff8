//! Microsoft Graph over the `Transport` port: the app token, and (later) the
//! client every operation talks to Graph through.

pub mod client;
pub mod error;
pub mod licences;
pub mod mail;
pub mod methods;
pub mod permissions;
pub mod phones;
pub mod privileged;
pub mod signins;
pub mod tap;
pub mod token;
pub mod users;

pub use client::{BatchRequest, GraphClient, GraphResponse, Version};
pub use error::GraphError;
