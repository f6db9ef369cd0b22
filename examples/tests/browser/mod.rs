//! Headless Chromium driven over the Chrome DevTools Protocol, for the
//! dashboard's browser test.

mod cdp;
mod chromium;

pub(crate) use cdp::Cdp;
pub(crate) use chromium::Chromium;
