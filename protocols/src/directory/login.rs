//! The local-account password check of the starter pack's `login-NonInteractive`: an
//! OpenIdConnect profile used as a validation profile with `grant_type=password` (ROPC,
//! policy-spec §d.3). B2C posts the credentials to its own token endpoint; here they are
//! checked against the embedded [`Directory`] and the claims of the id_token it would
//! return come back.

use ief_engine::exec::{BoxFuture, Invocation, ProfileError, ProfileHandler, ProfileRequest, ProfileResult};
use ief_engine::model::TechnicalProfile;
use ief_transforms::ClaimValue;

use super::store::{Directory, Password, User};
use super::{error, text_of, user_message};

/// Verifies a sign-in name and password against the [`Directory`].
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalPasswordLogin;

/// Whether `profile` is a password-grant login: an input claim `grant_type` defaulting to
/// `password`, or the `grant_type` metadata item the ROPC documentation's profile sets.
pub fn is_password_grant(profile: &TechnicalProfile) -> bool {
    let by_claim = profile.input_claims.iter().any(|c| {
        c.claim.value.eq_ignore_ascii_case("grant_type")
            && c.default_value.as_ref().is_some_and(|d| d.value.trim().eq_ignore_ascii_case("password"))
    });
    by_claim || profile.metadata("grant_type").is_some_and(|g| g.trim().eq_ignore_ascii_case("password"))
}

impl ProfileHandler for LocalPasswordLogin {
    fn name(&self) -> &'static str {
        "OpenIdConnect (password grant)"
    }

    fn handles(&self, profile: &TechnicalProfile, invocation: Invocation) -> bool {
        // A validation profile of the sign-in page, or the first step of an ROPC journey.
        matches!(invocation, Invocation::Validation | Invocation::Step)
            && profile.protocol.as_ref().is_some_and(|p| p.name.value == "OpenIdConnect")
            && is_password_grant(profile)
    }

    fn execute<'a>(&'a self, request: ProfileRequest<'a>) -> BoxFuture<'a, ProfileResult> {
        Box::pin(async move {
            match ief_store::blocking(|| login(&request)) {
                Ok(claims) => ProfileResult::Claims(claims),
                Err(e) => ProfileResult::Failed(e),
            }
        })
    }
}

const NOT_FOUND: (&str, &str) = ("UserMessageIfClaimsPrincipalDoesNotExist", "We can't seem to find your account.");
const BAD_PASSWORD: (&str, &str) = ("UserMessageIfInvalidPassword", "Your password is incorrect.");
const DISABLED: (&str, &str) = (
    "UserMessageIfUserAccountDisabled",
    "Your account has been locked. Contact your support person to unlock it, then try again.",
);

fn refuse(req: &ProfileRequest<'_>, (string_id, default): (&str, &str)) -> ProfileError {
    error(string_id, user_message(req, string_id, default))
}

fn input<'r>(req: &'r ProfileRequest<'_>, partner: &str) -> Option<&'r ClaimValue> {
    req.inputs.iter().find(|i| i.partner.eq_ignore_ascii_case(partner)).and_then(|i| i.value.as_ref())
}

fn login(req: &ProfileRequest<'_>) -> Result<Vec<(String, ClaimValue)>, ProfileError> {
    let dir = req.services.extensions.get::<Directory>().ok_or_else(|| {
        error(
            "DirectoryUnavailable",
            format!(
                "technical profile '{}' checks passwords against the user directory, but this run has none",
                req.profile.id.value
            ),
        )
    })?;
    let username = input(req, "username").map(text_of).unwrap_or_default();
    let username = username.trim();
    if username.is_empty() {
        return Err(refuse(req, NOT_FOUND));
    }
    let directory_error = |e: super::DirectoryError| error("DirectoryError", e.to_string());
    // Email or user name: the token endpoint accepts any sign-in name.
    let user =
        dir.find_by_sign_in_name(None, username).map_err(directory_error)?.ok_or_else(|| refuse(req, NOT_FOUND))?;
    let password = Password::new(input(req, "password").map(text_of).unwrap_or_default());
    if password.expose().is_empty() || !dir.verify_password(&user.object_id, &password).map_err(directory_error)? {
        return Err(refuse(req, BAD_PASSWORD));
    }
    if user.attribute("accountEnabled") == Some(&ClaimValue::Boolean(false)) {
        return Err(refuse(req, DISABLED));
    }
    Ok(id_token_claims(req, &user))
}

/// The id_token claims of an Azure AD password grant.
fn id_token_claims(req: &ProfileRequest<'_>, user: &User) -> Vec<(String, ClaimValue)> {
    let policy = req.policy;
    let tenant = policy.tenant.guid.clone();
    let attribute = |name: &str| user.attribute(name).map(text_of);
    let claims = [
        ("oid", Some(user.object_id.clone())),
        ("sub", Some(user.object_id.clone())),
        ("tid", Some(tenant).filter(|t| !t.is_empty())),
        ("given_name", attribute("givenName")),
        ("family_name", attribute("surname")),
        ("name", attribute("displayName")),
        ("upn", user.user_principal_name.clone()),
        ("email", user.sign_in_name(Some("emailAddress")).map(str::to_owned)),
    ];
    claims.into_iter().filter_map(|(name, value)| Some((name.to_owned(), ClaimValue::String(value?)))).collect()
}

#[cfg(test)]
mod tests {
    use ief_transforms::FixedEnv;

    use super::super::testing::*;
    use super::super::{SignInName, UserData};
    use super::*;

    const LOGIN: LocalPasswordLogin = LocalPasswordLogin;

    fn attempt(dir: &Directory, username: &str, password: &str) -> ProfileResult {
        let bag = bag(&[("signInName", s(username)), ("password", s(password))]);
        run(&LOGIN, &profile("login-NonInteractive"), Invocation::Validation, &bag, dir)
    }

    #[test]
    fn handles_the_password_grant_as_validation_or_step() {
        let login = profile("login-NonInteractive");
        assert!(is_password_grant(&login));
        assert!(LOGIN.handles(&login, Invocation::Validation));
        assert!(LOGIN.handles(&login, Invocation::Step), "an ROPC journey's step");
        assert!(!LOGIN.handles(&login, Invocation::Issuer));
        assert!(!LOGIN.handles(&profile("JwtIssuer"), Invocation::Validation));
        assert!(!LOGIN.handles(&profile("AAD-UserReadUsingObjectId"), Invocation::Validation));
        let mut other_grant = login.clone();
        other_grant.input_claims.retain(|c| c.claim.value != "grant_type");
        assert!(!LOGIN.handles(&other_grant, Invocation::Validation));
    }

    #[test]
    fn a_correct_password_returns_the_id_token_claims() {
        let dir = Directory::in_memory().unwrap();
        let alice = seed_alice(&dir);
        let out = claims(attempt(&dir, "ALICE@Contoso.com", "Passw0rd!"));
        assert_eq!(
            out,
            vec![
                ("oid".to_owned(), s(&alice.object_id)),
                ("sub".to_owned(), s(&alice.object_id)),
                ("tid".to_owned(), s(&ief_engine::tenant::derive("yourtenant.onmicrosoft.com"))),
                ("given_name".to_owned(), s("Alice")),
                ("family_name".to_owned(), s("Smith")),
                ("name".to_owned(), s("Alice Smith")),
                ("upn".to_owned(), s("alice@yourtenant.onmicrosoft.com")),
                ("email".to_owned(), s("alice@contoso.com")),
            ]
        );
        // Every partner name login-NonInteractive maps is among them.
        for oc in &profile("login-NonInteractive").output_claims {
            if let Some(partner) = &oc.partner_claim_type {
                assert!(get(&out, &partner.value).is_some(), "{}", partner.value);
            }
        }
    }

    #[test]
    fn user_names_sign_in_too() {
        let dir = Directory::in_memory().unwrap();
        let bob = dir
            .seed(&super::super::SeedUser {
                object_id: None,
                data: UserData {
                    sign_in_names: vec![SignInName::new("userName", "bob")],
                    password: Some(Password::new("hunter2!")),
                    ..UserData::default()
                },
            })
            .unwrap();
        let out = claims(attempt(&dir, " Bob ", "hunter2!"));
        assert_eq!(get(&out, "oid"), Some(&s(&bob.object_id)));
        assert_eq!(get(&out, "email"), None);
        assert_eq!(get(&out, "given_name"), None);
    }

    #[test]
    fn a_wrong_password_is_refused_with_the_documented_message() {
        let dir = Directory::in_memory().unwrap();
        seed_alice(&dir);
        let e = failure(attempt(&dir, "alice@contoso.com", "passw0rd!"));
        assert_eq!(e.code, "UserMessageIfInvalidPassword");
        assert_eq!(e.user_message, "Your password is incorrect.");
        assert!(!format!("{e:?}").contains("passw0rd!"));
        let e = failure(attempt(&dir, "alice@contoso.com", ""));
        assert_eq!(e.code, "UserMessageIfInvalidPassword");

        let custom = with_metadata(profile("login-NonInteractive"), "UserMessageIfInvalidPassword", "Nope.");
        let bag = bag(&[("signInName", s("alice@contoso.com")), ("password", s("bad"))]);
        let e = failure(run(&LOGIN, &custom, Invocation::Validation, &bag, &dir));
        assert_eq!(e.user_message, "Nope.");
    }

    #[test]
    fn an_unknown_user_is_refused_with_the_documented_message() {
        let dir = Directory::in_memory().unwrap();
        seed_alice(&dir);
        let e = failure(attempt(&dir, "mallory@contoso.com", "Passw0rd!"));
        assert_eq!(e.code, "UserMessageIfClaimsPrincipalDoesNotExist");
        assert_eq!(e.user_message, "We can't seem to find your account.");
        let e = failure(attempt(&dir, "  ", "Passw0rd!"));
        assert_eq!(e.code, "UserMessageIfClaimsPrincipalDoesNotExist");

        let mut env = FixedEnv::default();
        env.strings.insert(
            ("ErrorMessage".to_owned(), String::new(), "UserMessageIfClaimsPrincipalDoesNotExist".to_owned()),
            "Compte introuvable.".to_owned(),
        );
        let bag = bag(&[("signInName", s("mallory@contoso.com")), ("password", s("x"))]);
        let e =
            failure(run_with(&LOGIN, &profile("login-NonInteractive"), Invocation::Validation, &bag, Some(&dir), &env));
        assert_eq!(e.user_message, "Compte introuvable.");
    }

    #[test]
    fn a_disabled_account_is_refused_after_its_password_checks() {
        let dir = Directory::in_memory().unwrap();
        let alice = seed_alice(&dir);
        let disable = UserData {
            attributes: vec![("accountEnabled".to_owned(), ClaimValue::Boolean(false))],
            ..UserData::default()
        };
        dir.update(&alice.object_id, &disable, None).unwrap();
        assert_eq!(failure(attempt(&dir, "alice@contoso.com", "wrong")).code, "UserMessageIfInvalidPassword");
        let e = failure(attempt(&dir, "alice@contoso.com", "Passw0rd!"));
        assert_eq!(e.code, "UserMessageIfUserAccountDisabled");
        assert_eq!(e.user_message, DISABLED.1);
    }

    #[test]
    fn without_a_directory_the_error_names_the_profile() {
        let bag = bag(&[("signInName", s("a@b.c")), ("password", s("x"))]);
        let e = failure(run_with(
            &LOGIN,
            &profile("login-NonInteractive"),
            Invocation::Validation,
            &bag,
            None,
            &FixedEnv::default(),
        ));
        assert_eq!(e.code, "DirectoryUnavailable");
        assert!(e.user_message.contains("login-NonInteractive"));
    }
}
