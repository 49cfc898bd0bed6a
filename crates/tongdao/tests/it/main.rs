//! Integration tests: a real server (real SQLite file, port 0, temp data dir) driven over
//! real HTTP. One binary, modules per area; helpers named after product verbs.

mod console;
mod console_account;
mod console_messaging;
mod console_ops_customers;
mod console_ops_work;
mod esme;
mod harness;

mod accept;
mod agreements;
mod carrier;
mod compliance;
mod ledger;
mod lifecycle;
mod messages;
mod moderation;
mod operator;
mod refusals;
mod service;
mod smpp;
mod statements;
mod tickets;
