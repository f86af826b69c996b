//! Test-only package: see integration/.
