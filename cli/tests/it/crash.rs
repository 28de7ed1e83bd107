//! `ief serve` killed with SIGKILL mid-journey, and started again on the same `.ief` files:
//! once after a page was answered, once right after a directory write returned. The browser's
//! next request goes on with the sign-in; what was written before the kill is there, whole.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use ief_protocols::directory::{Directory, Password, SeedUser, SignInName, UserData};
use serde_json::Value;

use crate::common::{Running, Scratch, spawn};

const LOCAL_ACCOUNTS: &str = "../shared/policies/starterpack/LocalAccounts";
const TENANT: &str = "yourtenant.onmicrosoft.com";
const POLICY: &str = "B2C_1A_crash_profile_edit";
const EMAIL: &str = "carol@contoso.com";
const PASSWORD: &str = "Passw0rd!2024";
const REDIRECT: &str = "http://localhost:8765/cb";

/// The starter pack's profile edit with a REST call after the profile is written: the test's
/// hook, which holds the request while the test kills the server.
fn policy(hook: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0"
  TenantId="{TENANT}" PolicyId="{POLICY}" PublicPolicyUri="http://{TENANT}/{POLICY}">
  <BasePolicy><TenantId>{TENANT}</TenantId><PolicyId>B2C_1A_TrustFrameworkExtensions</PolicyId></BasePolicy>
  <ClaimsProviders>
    <ClaimsProvider>
      <DisplayName>After write</DisplayName>
      <TechnicalProfiles>
        <TechnicalProfile Id="REST-AfterWrite">
          <DisplayName>Tell the hook the profile was written</DisplayName>
          <Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.RestfulProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null" />
          <Metadata>
            <Item Key="ServiceUrl">{hook}/after-write</Item>
            <Item Key="SendClaimsIn">Body</Item>
            <Item Key="AuthenticationType">None</Item>
            <Item Key="AllowInsecureAuthInProduction">true</Item>
          </Metadata>
          <InputClaims>
            <InputClaim ClaimTypeReferenceId="objectId" />
          </InputClaims>
          <UseTechnicalProfileForSessionManagement ReferenceId="SM-Noop" />
        </TechnicalProfile>
      </TechnicalProfiles>
    </ClaimsProvider>
  </ClaimsProviders>
  <UserJourneys>
    <UserJourney Id="CrashProfileEdit">
      <OrchestrationSteps>
        <OrchestrationStep Order="1" Type="ClaimsProviderSelection" ContentDefinitionReferenceId="api.idpselections">
          <ClaimsProviderSelections>
            <ClaimsProviderSelection TargetClaimsExchangeId="LocalAccountSigninEmailExchange" />
          </ClaimsProviderSelections>
        </OrchestrationStep>
        <OrchestrationStep Order="2" Type="ClaimsExchange">
          <ClaimsExchanges>
            <ClaimsExchange Id="LocalAccountSigninEmailExchange" TechnicalProfileReferenceId="SelfAsserted-LocalAccountSignin-Email" />
          </ClaimsExchanges>
        </OrchestrationStep>
        <OrchestrationStep Order="3" Type="ClaimsExchange">
          <ClaimsExchanges>
            <ClaimsExchange Id="AADUserReadWithObjectId" TechnicalProfileReferenceId="AAD-UserReadUsingObjectId" />
          </ClaimsExchanges>
        </OrchestrationStep>
        <OrchestrationStep Order="4" Type="ClaimsExchange">
          <ClaimsExchanges>
            <ClaimsExchange Id="B2CUserProfileUpdateExchange" TechnicalProfileReferenceId="SelfAsserted-ProfileUpdate" />
          </ClaimsExchanges>
        </OrchestrationStep>
        <OrchestrationStep Order="5" Type="ClaimsExchange">
          <ClaimsExchanges>
            <ClaimsExchange Id="AfterWrite" TechnicalProfileReferenceId="REST-AfterWrite" />
          </ClaimsExchanges>
        </OrchestrationStep>
        <OrchestrationStep Order="6" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer" />
      </OrchestrationSteps>
      <ClientDefinition ReferenceId="DefaultWeb" />
    </UserJourney>
  </UserJourneys>
  <RelyingParty>
    <DefaultUserJourney ReferenceId="CrashProfileEdit" />
    <TechnicalProfile Id="PolicyProfile">
      <DisplayName>PolicyProfile</DisplayName>
      <Protocol Name="OpenIdConnect" />
      <OutputClaims>
        <OutputClaim ClaimTypeReferenceId="objectId" PartnerClaimType="sub" />
        <OutputClaim ClaimTypeReferenceId="givenName" />
      </OutputClaims>
      <SubjectNamingInfo ClaimType="sub" />
    </TechnicalProfile>
  </RelyingParty>
</TrustFrameworkPolicy>
"#
    )
}

/// The REST API after the write: it answers `{}`, or, while `hold` is set, tells the test a
/// call came and never answers it.
struct Hook {
    url: String,
    hold: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
    held: mpsc::Receiver<()>,
}

impl Hook {
    fn start() -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the hook");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let (hold, calls) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicUsize::new(0)));
        let (tx, held) = mpsc::channel();
        let (holding, counting) = (hold.clone(), calls.clone());
        std::thread::spawn(move || {
            let mut kept: Vec<TcpStream> = Vec::new();
            for stream in listener.incoming().map_while(Result::ok) {
                let mut stream = stream;
                counting.fetch_add(1, Ordering::SeqCst);
                read_request(&mut stream);
                if holding.load(Ordering::SeqCst) {
                    kept.push(stream);
                    let _ = tx.send(());
                } else {
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                    );
                }
            }
        });
        Hook { url, hold, calls, held }
    }
}

/// Reads one request's head and body (by its Content-Length).
fn read_request(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stream.read(&mut chunk) {
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return;
            }
        }
    }
}

/// `ief serve` on `port` over the scratch folder's store, directory and keys.
fn serve(scratch: &Scratch, port: u16) -> Running {
    let path = |name: &str| scratch.path(name).display().to_string();
    let (port, keys, directory, store, policies) =
        (port.to_string(), path("keys"), path("directory.sqlite"), path("state.sqlite"), path("policies"));
    let args = [
        LOCAL_ACCOUNTS,
        &policies,
        "--http",
        "--port",
        &port,
        "--keys",
        &keys,
        "--directory",
        &directory,
        "--store",
        &store,
        "--for",
        "300",
    ];
    spawn(&["serve"], &args, "keys:").0
}

/// SIGKILL: the process gets no chance to tidy up.
fn kill(mut running: Running) {
    running.0.kill().expect("SIGKILL");
    running.0.wait().expect("reaped");
}

struct Page {
    settings: Value,
}

impl Page {
    fn get(&self, name: &str) -> String {
        self.settings[name].as_str().unwrap_or_else(|| panic!("SETTINGS.{name} in {}", self.settings)).to_owned()
    }
}

struct Browser {
    client: reqwest::Client,
    base: String,
}

impl Browser {
    fn url(&self, tail: &str) -> String {
        format!("{}/{TENANT}/{POLICY}/{tail}", self.base)
    }

    async fn page(&self, response: reqwest::Response) -> Page {
        let html = response.text().await.expect("body");
        let settings = html
            .split_once("var SETTINGS = ")
            .and_then(|(_, rest)| rest.split_once(";\n"))
            .and_then(|(json, _)| serde_json::from_str(json).ok())
            .unwrap_or_else(|| panic!("a page with SETTINGS: {html}"));
        Page { settings }
    }

    fn query(page: &Page, extra: &[(&str, &str)]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(extra).append_pair("csrf_token", &page.get("csrf")).append_pair("tx", &page.get("transId"));
        query.append_pair("p", POLICY).finish()
    }

    async fn submit(&self, page: &Page, fields: &[(&str, &str)]) -> reqwest::Result<Value> {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("tx", page.get("transId").as_str()), ("p", POLICY)])
            .finish();
        let mut form = vec![("request_type", "RESPONSE")];
        form.extend_from_slice(fields);
        self.client
            .post(self.url(&format!("SelfAsserted?{query}")))
            .header("X-CSRF-TOKEN", page.get("csrf"))
            .header("X-Requested-With", "XMLHttpRequest")
            .form(&form)
            .send()
            .await?
            .json()
            .await
    }

    async fn confirmed(&self, page: &Page) -> reqwest::Response {
        let url = self.url(&format!("api/{}/confirmed?{}", page.get("api"), Browser::query(page, &[])));
        self.client.get(url).send().await.expect("GET confirmed")
    }
}

#[test]
fn a_killed_server_restarted_on_its_files_goes_on_with_the_sign_in() {
    let scratch = Scratch::new("crash");
    let hook = Hook::start();
    scratch.write("policies/CrashProfileEdit.xml", policy(&hook.url));
    let carol = Directory::open(scratch.path("directory.sqlite"))
        .expect("directory")
        .seed(&SeedUser {
            object_id: None,
            data: UserData {
                sign_in_names: vec![SignInName::new("emailAddress", EMAIL)],
                password: Some(Password::new(PASSWORD)),
                ..UserData::default()
            },
        })
        .expect("carol is seeded");
    let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let browser = Browser {
        client: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client"),
        base: format!("http://127.0.0.1:{port}"),
    };

    // 1. The sign-in page (the only button of the selection is chosen for the user) is
    //    answered and the answer stored. Kill before the browser fetches what follows.
    let first = serve(&scratch, port);
    let sign_in_page = runtime.block_on(async {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", "00000000-0000-0000-0000-00000000a991"),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
                ("scope", "openid"),
            ])
            .finish();
        let authorize = browser.client.get(browser.url(&format!("oauth2/v2.0/authorize?{query}"))).send().await;
        let page = browser.page(authorize.expect("authorize")).await;
        let answer = browser.submit(&page, &[("signInName", EMAIL), ("password", PASSWORD)]).await;
        assert_eq!(answer.expect("JSON")["status"], "200");
        page
    });
    kill(first);

    // 2. Restarted: the browser fetches what follows its answer, the profile page, and submits
    //    it; the profile is written and the REST call after it is held. Kill.
    let second = serve(&scratch, port);
    let profile_page = runtime.block_on(async {
        let next = browser.page(browser.confirmed(&sign_in_page).await).await;
        assert_eq!(next.get("api"), "SelfAsserted", "the restarted server knows the sign-in");
        next
    });
    let fields = [("givenName", "Crashed"), ("surname", "Carol")];
    let client = Browser { client: browser.client.clone(), base: browser.base.clone() };
    let settings = profile_page.settings.clone();
    let held = runtime.spawn(async move { client.submit(&Page { settings }, &fields).await });
    hook.held.recv_timeout(Duration::from_secs(60)).expect("the REST call after the write arrives");
    kill(second);
    let lost = runtime.block_on(held).expect("task");
    assert!(lost.is_err(), "the killed server never answered: {lost:?}");
    let written = Directory::open(scratch.path("directory.sqlite"))
        .expect("directory")
        .find_by_object_id(&carol.object_id)
        .expect("readable")
        .expect("carol");
    assert_eq!(
        written.attribute("givenName").map(ToString::to_string).as_deref(),
        Some("Crashed"),
        "the write before the kill is there"
    );
    assert!(written.has_password && written.sign_in_names.len() == 1, "and whole: {written:?}");

    // 3. Restarted again: the browser sends the profile page again and the sign-in ends.
    hook.hold.store(false, Ordering::SeqCst);
    let third = serve(&scratch, port);
    runtime.block_on(async {
        let answer = browser.submit(&profile_page, &fields).await.expect("JSON");
        assert_eq!(answer["status"], "200", "{answer}");
        let done = browser.confirmed(&profile_page).await;
        assert_eq!(done.status(), 302);
        let location = done.headers()["location"].to_str().expect("location").to_owned();
        let code = form_urlencoded::parse(location.split_once('?').expect("a query").1.as_bytes())
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("a code in {location}"));
        let token: Value = browser
            .client
            .post(browser.url("oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "00000000-0000-0000-0000-00000000a991"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("JSON");
        let id_token = token["id_token"].as_str().unwrap_or_else(|| panic!("an id_token: {token}"));
        let payload = id_token.split('.').nth(1).expect("a JWT");
        let claims: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).expect("base64url"),
        )
        .expect("claims");
        assert_eq!(claims["sub"], carol.object_id.as_str());
        assert_eq!(claims["given_name"].as_str().or(claims["givenName"].as_str()), Some("Crashed"), "{claims}");
    });
    drop(third);
    assert_eq!(hook.calls.load(Ordering::SeqCst), 2, "the held call and the one after the restart");
}
