//! response_type=token (the implicit grant, for clients registered for
//! `implicit`): after the user signed in and allowed, an access token and
//! never a refresh token. Its session is a family of its own, so revoking it
//! (or a password change) ends the token like any other.

use crate::crypto::random_token;
use crate::domain::records::User;
use crate::oauth::error::OAuthError;
use crate::oauth::mint::Minter;

/// The access token for `user` with the consented `scope` (the callback
/// puts it in the redirect's fragment).
#[tracing::instrument(name = "implicit", skip_all)]
pub async fn grant(minter: &Minter<'_>, user: &User, scope: &str) -> Result<String, OAuthError> {
    let now = minter.now.secs();
    let family = minter.family(user, random_token(16), None, Some(now));
    minter.state.refresh_tokens().start_family(&family).await?;
    minter
        .access_token(scope, Some(user), Some(now), Some(&family.family_id))
        .await
}
