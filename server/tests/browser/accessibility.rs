//! axe-core (npm, pinned in `interop/browser`) injected into the pages of each built-in
//! template family (sign-in, sign-up with its errors shown, the emailed code's page): no serious
//! or critical violations.

use std::path::PathBuf;
use std::time::Duration;

use ief_testkit::node::{check_node, npm_ci};
use serde_json::{Value, json};

use crate::harness::*;

/// The built-in template families, by the folder a LoadUri names.
const FAMILIES: [(&str, &str); 3] = [
    ("default", "~/tenant/default/"),
    ("azureblue", "~/tenant/templates/AzureBlue/"),
    ("msa", "~/tenant/templates/MSA/"),
];

fn axe_source() -> String {
    let project = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/browser");
    check_node((20, 18), "install Node.js 20.18 or newer for the accessibility test").expect("node");
    npm_ci(&project, "axe-core", Duration::from_secs(300)).expect("axe-core installed");
    std::fs::read_to_string(project.join("node_modules/axe-core/axe.min.js")).expect("axe.min.js")
}

/// The starter pack's sign-up-or-sign-in relying party once per family, as
/// `B2C_1A_signup_signin_{family}`, its sign-in and sign-up pages on that family's templates.
fn relying_parties(folder: &std::path::Path) {
    let original = std::fs::read_to_string(starter_pack("LocalAccounts").join("SignUpOrSignin.xml")).expect("the RP");
    for (family, prefix) in FAMILIES {
        let mut definitions = String::new();
        for (id, file, data) in [
            ("api.signuporsignin", "unified.cshtml", "unifiedssp:2.1.5"),
            ("api.localaccountsignup", "selfAsserted.cshtml", "selfasserted:2.1.7"),
        ] {
            definitions.push_str(&format!(
                "<ContentDefinition Id=\"{id}\"><LoadUri>{prefix}{file}</LoadUri>\
<RecoveryUri>~/common/default_page_error.html</RecoveryUri>\
<DataUri>urn:com:microsoft:aad:b2c:elements:contract:{data}</DataUri></ContentDefinition>"
            ));
        }
        let xml = original.replace("B2C_1A_signup_signin\"", &format!("B2C_1A_signup_signin_{family}\"")).replace(
            "</BasePolicy>",
            &format!(
                "</BasePolicy><BuildingBlocks><ContentDefinitions>{definitions}</ContentDefinitions></BuildingBlocks>"
            ),
        );
        std::fs::write(folder.join(format!("SignUpOrSignin_{family}.xml")), xml).expect("write the RP");
    }
}

/// The serious and critical violations axe-core finds on the page shown.
async fn violations(browser: &Browser, axe: &str) -> Vec<Value> {
    browser.client.execute(axe, Vec::new()).await.expect("axe-core injected");
    let script = "const done = arguments[arguments.length - 1];\
        axe.run(document).then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
          .map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')) }))))\
        .catch(e => done([{ id: 'axe failed', help: String(e) }]));";
    match browser.client.execute_async(script, Vec::new()).await.expect("axe.run") {
        Value::Array(found) => found,
        other => vec![json!({ "id": "unexpected result", "help": other })],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_templates_have_no_serious_or_critical_axe_violations() {
    bounded(async {
        let axe = axe_source();
        let extra = TempDir::new("browser-families");
        relying_parties(&extra.0);
        let served = serve(vec![starter_pack("LocalAccounts"), extra.0.clone()]).await;
        let browser = Browser::start(&served).await;
        // axe-core runs and reports: an image without a text alternative is critical.
        browser
            .open("data:text/html,<!DOCTYPE html><html lang=en><title>t</title><main><img src=x.png></main></html>")
            .await;
        let control = violations(&browser, &axe).await;
        assert!(control.iter().any(|v| v["id"] == "image-alt"), "{control:?}");

        let mut found = Vec::new();
        for (family, _) in FAMILIES {
            let policy = format!("B2C_1A_signup_signin_{family}");
            browser.open(&served.authorize_url(&policy, &[])).await;
            browser.find("#localAccountForm").await;
            browser.find(&format!("body.ief-{family}")).await;
            found.push((format!("{family} sign-in"), violations(&browser, &axe).await));
            // The sign-up page with its errors shown.
            browser.click("#createAccount").await;
            browser.click("#continue").await;
            browser.shown_text(".error.itemLevel").await;
            found.push((format!("{family} sign-up with errors"), violations(&browser, &axe).await));
            // The page of the code emailed at sign-up.
            for (css, value) in crate::flows::ALICE {
                browser.fill(css, value).await;
            }
            browser.click("#continue").await;
            browser.find("#verificationCode").await;
            found.push((format!("{family} email code"), violations(&browser, &axe).await));
        }
        let bad: Vec<_> = found.iter().filter(|(_, v)| !v.is_empty()).collect();
        assert!(bad.is_empty(), "{bad:#?}");
        browser.close().await;
    })
    .await;
}
