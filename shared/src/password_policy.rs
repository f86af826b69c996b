//! New-password policy (NIST SP 800-63B). (being written)
