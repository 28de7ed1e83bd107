//! `ief serve` in a real browser: Debian's headless Chromium, driven over WebDriver
//! (ChromeDriver and fantoccini), signs in against the server over HTTPS with its local CA
//! trusted. Each test checks what a person sees on the pages and what the application gets.
//! One test binary of its own: it needs Chromium (installed when missing, see
//! `ief_testkit::browser`), which the other server tests do not.

mod accessibility;
mod display_control;
mod flows;
mod harness;
mod pages;
mod social;
mod spa;
#[path = "../support/mod.rs"]
mod support;
