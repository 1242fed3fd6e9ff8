//! graph-sim integration tests: each test starts its own simulator in-process on
//! port 0 and talks to it over real HTTP. One module per rule of the README.

mod common;

mod auth;
mod batch;
mod commit_faults;
mod control;
mod licence_p2;
mod methods;
mod paging;
mod phone;
mod pim_groups;
mod replication;
mod revoke_mail;
mod roles;
mod routing;
mod signin_rules;
mod signins;
mod tap;
mod tokens;
mod users;
