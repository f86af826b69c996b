//! Randomness, hashing, password hashing and constant-time comparison.

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::sync::{Mutex, PoisonError};
use subtle::ConstantTimeEq;

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// An opaque token with `bytes * 8` bits of randomness, base64url.
pub fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    OsRng.fill_bytes(&mut b);
    b64url(&b)
}

/// A random string over `[A-Za-z0-9]` (client ids and secrets), without modulo bias.
pub fn random_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut buf = [0u8; 64];
        OsRng.fill_bytes(&mut buf);
        for b in buf {
            // 62 * 4 = 248: reject 248..=255 to keep the distribution uniform.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Storage form of a high-entropy token (code, refresh token): base64url SHA-256.
/// Such tokens carry >= 128 bits of randomness, so a fast hash is enough.
pub fn token_hash(token: &str) -> String {
    b64url(&sha256(token.as_bytes()))
}

/// Storage form of a client secret (64 random alphanumerics, ~381 bits).
pub fn client_secret_hash(secret: &str) -> String {
    format!("sha256:{}", b64url(&sha256(secret.as_bytes())))
}

/// Constant-time check of a presented client secret against its stored hash.
pub fn verify_client_secret(presented: &str, stored_hash: &str) -> bool {
    let computed = client_secret_hash(presented);
    ct_eq(computed.as_bytes(), stored_hash.as_bytes())
}

/// The stored form of a client's secret after `client rotate-secret`: the
/// current hash on the first line and, during a grace period, a second line
/// `previous <hash> <until>` (epoch seconds).
pub fn client_secret_record(current_hash: &str, previous: Option<(&str, u64)>) -> String {
    match previous {
        Some((h, until)) => format!("{current_hash}\nprevious {h} {until}"),
        None => current_hash.to_owned(),
    }
}

/// Checks a presented secret against a stored record: the current hash, or
/// the previous one while its grace period lasts. Both are always compared
/// (constant time, the same work whichever matches).
pub fn verify_client_secret_record(presented: &str, record: &str, now: u64) -> bool {
    let mut lines = record.lines();
    let current = lines.next().unwrap_or("");
    let computed = client_secret_hash(presented);
    let ok_current = ct_eq(computed.as_bytes(), current.as_bytes());
    let ok_previous = lines
        .next()
        .and_then(|l| {
            let mut parts = l.split(' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("previous"), Some(h), Some(until)) => Some((h, until.parse::<u64>().ok()?)),
                _ => None,
            }
        })
        .is_some_and(|(h, until)| ct_eq(computed.as_bytes(), h.as_bytes()) && now < until);
    ok_current | ok_previous
}

pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this arm is unreachable.
        Err(_) => return [0u8; 32],
    };
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

// Password hashing: Argon2id with OWASP's minimum cost, m = 19 MiB, t = 2, p = 1.
//
// `argon2` allocates a fresh m-KiB block buffer per hash; with glibc the freed
// 19 MiB buffers stay in the per-thread arenas (and raise the dynamic mmap
// threshold), so a warm Lambda's resident size grew by hundreds of MiB after a few
// dozen logins. Instead the block memory is allocated once per process and reused
// under a mutex: memory is bounded by one budget-sized buffer whatever the request
// mix. A Lambda sandbox runs one request at a time, so the lock is uncontended
// there; concurrent callers (tests, the admin CLI) simply take turns.

/// Our memory cost, in KiB (one Argon2 block is 1 KiB): also the most a stored
/// hash may ask for, and the size of the shared buffer.
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Hash length of the hashes we write, in bytes.
const HASH_LEN: usize = 32;
/// Sanity bounds on the time cost and parallelism a stored hash may ask for; a
/// stored hash outside them (or over [`M_COST_KIB`]) never verifies.
const MAX_T_COST: u32 = 10;
const MAX_P_COST: u32 = 16;
/// Blocks in the shared buffer.
const BUDGET_BLOCKS: usize = M_COST_KIB as usize;

/// The process's Argon2 working memory, empty until the first hash.
static BLOCKS: Mutex<Vec<Block>> = Mutex::new(Vec::new());

fn our_params() -> Result<Params, HashError> {
    Params::new(M_COST_KIB, T_COST, P_COST, Some(HASH_LEN)).map_err(|_| HashError)
}

/// Runs Argon2 into `out` using the shared block buffer. Refuses parameters that
/// need more memory than the budget rather than allocating for them.
fn argon2_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    let needed = argon.params().block_count();
    if needed > BUDGET_BLOCKS {
        return Err(HashError);
    }
    // The buffer's contents never matter (Argon2 overwrites every block it uses
    // before reading it), so a lock poisoned by a panicking holder is safe to take.
    let mut blocks = BLOCKS.lock().unwrap_or_else(PoisonError::into_inner);
    if blocks.len() < needed {
        // First use: allocate the whole budget at once, so no later call, whatever
        // its parameters, ever allocates again.
        blocks.clear();
        blocks
            .try_reserve_exact(BUDGET_BLOCKS)
            .map_err(|_| HashError)?;
        blocks.resize(BUDGET_BLOCKS, Block::new());
    }
    let result = argon.hash_password_into_with_memory(password, salt, out, blocks.as_mut_slice());
    drop(blocks);
    result.map_err(|_| HashError)
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

/// Hashes a password into a PHC string, `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`,
/// as the `argon2` crate's own `PasswordHasher` would write it.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let params = our_params()?;
    let salt = random_bytes::<16>();
    let mut out = [0u8; HASH_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    argon2_into(&argon, password.as_bytes(), &salt, &mut out)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| HashError)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(|_| HashError)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|_| HashError)?),
    };
    Ok(phc.to_string())
}

/// Verifies a password against a PHC string; with `None` (unknown user), or a
/// stored value that is not a hash we compute (no password), it verifies
/// against a dummy hash of our own cost so every path costs the same.
///
/// Algorithm, version, parameters, salt and hash length come from the stored
/// string; anything but Argon2id within our memory budget (and sane time and
/// parallelism bounds) does not verify.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (dummy_phc(), false),
    };
    match verify_phc(password.as_bytes(), phc) {
        Ok(ok) => ok && real,
        // A hash we will not compute (a user with no password, as an
        // exchange-created user is) costs what a real check costs.
        Err(_) => {
            let _ = verify_phc(password.as_bytes(), dummy_phc());
            false
        }
    }
}

/// A well-formed hash of our cost that matches no password (its output is all
/// zeros), for the unknown-user path: a constant, never computed at start (a
/// test checks that its parameters are ours). The salt is the base64
/// (unpadded) of the 16 bytes "tollgate-dummy!!", the hash that of 32 zero bytes.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1\
     $dG9sbGdhdGUtZHVtbXkhIQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn dummy_phc() -> &'static str {
    DUMMY_PHC
}

/// For the init phase of a function that checks passwords: allocates and
/// touches the shared Argon2 buffer now (19 MiB of page faults, a few ms of CPU
/// at init's full speed), so the first login does not pay for it at the
/// invocation's CPU share. Idempotent; a failed allocation is left to the
/// first hash to report.
pub fn prepare_password_hashing() {
    let mut blocks = BLOCKS.lock().unwrap_or_else(PoisonError::into_inner);
    if blocks.len() < BUDGET_BLOCKS && blocks.try_reserve_exact(BUDGET_BLOCKS).is_ok() {
        blocks.resize(BUDGET_BLOCKS, Block::new());
    }
}

/// `Ok(matches)` once the hash was computed; `Err` for a hash we will not compute.
fn verify_phc(password: &[u8], phc: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(|_| HashError)?;
    if !matches!(
        Algorithm::try_from(parsed.algorithm),
        Ok(Algorithm::Argon2id)
    ) {
        return Err(HashError);
    }
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|_| HashError)?,
        None => Version::default(),
    };
    // Also takes the output length from the stored hash.
    let params = Params::try_from(&parsed).map_err(|_| HashError)?;
    if params.m_cost() > M_COST_KIB || params.t_cost() > MAX_T_COST || params.p_cost() > MAX_P_COST
    {
        return Err(HashError);
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(HashError);
    };
    let mut salt_buf = [0u8; Salt::MAX_LENGTH];
    let salt = salt.decode_b64(&mut salt_buf).map_err(|_| HashError)?;
    let expected = expected.as_bytes();
    let mut out_buf = [0u8; Output::MAX_LENGTH];
    let out = out_buf.get_mut(..expected.len()).ok_or(HashError)?;
    let argon = Argon2::new(Algorithm::Argon2id, version, params);
    argon2_into(&argon, password, salt, out)?;
    Ok(ct_eq(out, expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip_and_unknown_user_fails() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", Some(&h)));
        assert!(!verify_password("wrong", Some(&h)));
        assert!(!verify_password("correct horse", None));
        assert!(!verify_password("x", Some("not a phc string")));
    }

    /// A hash written by the stock `argon2` crate (its own allocation and PHC code).
    fn stock_hash(
        password: &str,
        algorithm: Algorithm,
        version: Version,
        params: Params,
    ) -> String {
        use argon2::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        Argon2::new(algorithm, version, params)
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    #[test]
    fn our_hashes_verify_with_the_stock_crate() {
        use argon2::PasswordVerifier;
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        let parsed = PasswordHash::new(&h).unwrap();
        assert_eq!(parsed.salt.unwrap().len(), 22);
        assert_eq!(parsed.hash.unwrap().len(), HASH_LEN);
        let stock = Argon2::default();
        assert!(
            stock
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        assert!(
            stock
                .verify_password(b"wrong horse battery", &parsed)
                .is_err()
        );
        // Fresh salt each time.
        assert_ne!(h, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn stock_hashes_verify_with_ours() {
        let h = stock_hash(
            "hunter2 hunter2",
            Algorithm::Argon2id,
            Version::V0x13,
            Params::default(),
        );
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("hunter2 hunter2", Some(&h)));
        assert!(!verify_password("hunter2 hunter3", Some(&h)));
        assert!(!verify_password("hunter2 hunter2", Some(&h[..h.len() - 2])));
    }

    #[test]
    fn other_acceptable_parameters_still_verify() {
        let cases = [
            (Version::V0x13, Params::new(8 * 1024, 3, 2, None).unwrap()),
            (
                Version::V0x13,
                Params::new(12 * 1024, 3, 1, Some(16)).unwrap(),
            ),
            (
                Version::V0x13,
                Params::new(M_COST_KIB, 1, 4, Some(64)).unwrap(),
            ),
            (Version::V0x10, Params::new(4 * 1024, 2, 1, None).unwrap()),
        ];
        for (version, params) in cases {
            let h = stock_hash("pässwörd with params", Algorithm::Argon2id, version, params);
            assert!(verify_password("pässwörd with params", Some(&h)), "{h}");
            assert!(!verify_password("passwort with params", Some(&h)), "{h}");
        }
    }

    #[test]
    fn unacceptable_hashes_never_verify() {
        // Other Argon2 variants, computed honestly by the stock crate.
        for alg in [Algorithm::Argon2i, Algorithm::Argon2d] {
            let h = stock_hash(
                "pw pw pw pw",
                alg,
                Version::V0x13,
                Params::new(1024, 1, 1, None).unwrap(),
            );
            assert!(!verify_password("pw pw pw pw", Some(&h)), "{h}");
        }
        // Well-formed strings whose cost is over budget or out of bounds: refused
        // before any memory is touched.
        let salt = "c29tZXNhbHRzb21lc2FsdA";
        let hash = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        for params in [
            "m=19457,t=2,p=1",
            "m=65536,t=2,p=1",
            "m=4294967295,t=2,p=1",
            "m=19456,t=11,p=1",
            "m=19456,t=4294967295,p=1",
            "m=19456,t=2,p=17",
            "m=19456,t=0,p=1",
            "m=19456,t=2,p=0",
            "m=7,t=2,p=1",
            "m=19456,t=2,p=1,x=1",
        ] {
            let h = format!("$argon2id$v=19${params}${salt}${hash}");
            assert!(verify_phc(b"x", &h).is_err(), "{h}");
            assert!(!verify_password("x", Some(&h)), "{h}");
        }
        for h in [
            "",
            "not a phc string",
            "$argon2id$v=19$m=19456,t=2,p=1",
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA",
            "$argon2id$v=18$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
            "sha256:abc",
        ] {
            assert!(!verify_password("x", Some(h)), "{h}");
        }
    }

    #[test]
    fn the_dummy_hash_costs_as_much_as_a_real_one() {
        let dummy = PasswordHash::new(dummy_phc()).unwrap();
        let ours = our_params().unwrap();
        let params = Params::try_from(&dummy).unwrap();
        assert_eq!(
            (
                params.m_cost(),
                params.t_cost(),
                params.p_cost(),
                params.output_len()
            ),
            (ours.m_cost(), ours.t_cost(), ours.p_cost(), Some(HASH_LEN))
        );
        assert_eq!(dummy.salt.unwrap().len(), 22);
        // It is computed (not refused early) and matches nothing.
        assert_eq!(verify_phc(b"", dummy_phc()).ok(), Some(false));
        assert_eq!(verify_phc(b"anything", dummy_phc()).ok(), Some(false));
    }

    #[test]
    fn a_poisoned_buffer_lock_is_recovered() {
        let h = hash_password("before the panic").unwrap();
        let poisoner = std::thread::spawn(|| {
            let _guard = BLOCKS.lock().unwrap_or_else(PoisonError::into_inner);
            panic!("poison the argon2 buffer lock");
        });
        assert!(poisoner.join().is_err());
        assert!(BLOCKS.is_poisoned());
        assert!(verify_password("before the panic", Some(&h)));
        assert!(!verify_password("after the panic", Some(&h)));
        let h2 = hash_password("after the panic").unwrap();
        assert!(verify_password("after the panic", Some(&h2)));
    }

    #[test]
    fn the_shared_buffer_is_allocated_once_at_the_budget() {
        let h = hash_password("budget").unwrap();
        assert!(verify_password("budget", Some(&h)));
        let small = stock_hash(
            "budget",
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        );
        assert!(verify_password("budget", Some(&small)));
        let blocks = BLOCKS.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(blocks.len(), BUDGET_BLOCKS);
        assert_eq!(blocks.capacity(), BUDGET_BLOCKS);
    }

    #[test]
    fn client_secret_hash_verifies_in_constant_time() {
        let s = random_alphanumeric(64);
        assert_eq!(s.len(), 64);
        let h = client_secret_hash(&s);
        assert!(verify_client_secret(&s, &h));
        assert!(!verify_client_secret("nope", &h));
        let old = random_alphanumeric(64);
        let rec = client_secret_record(&h, Some((&client_secret_hash(&old), 100)));
        assert!(verify_client_secret_record(&s, &rec, 99));
        assert!(verify_client_secret_record(&old, &rec, 99));
        assert!(
            !verify_client_secret_record(&old, &rec, 100),
            "grace is over"
        );
        assert!(
            verify_client_secret_record(&s, &h, 5),
            "a plain hash is a record"
        );
        assert!(!verify_client_secret_record("nope", &rec, 5));
    }
}
