//! graph-sim integration tests: each test starts its own simulator in-process on
//! port 0 and talks to it over real HTTP. One module per rule of the README.

mod common;

mod auth;
mod batch;
mod control;
mod methods;
mod phone;
mod revoke_mail;
mod roles;
mod routing;
mod signins;
mod tap;
mod users;
