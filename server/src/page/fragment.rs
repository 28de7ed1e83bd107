//! The page inside `<div id="api">`, one layout per page type, with the ids and classes B2C
//! documents (server-spec §2.4). Every value a user typed or a policy wrote is escaped.

use ief_engine::exec::PageKind;
use ief_engine::model::ClaimType;
use ief_engine::page_settings::{FORGOT_PASSWORD_OVERRIDE, ForgotPasswordLinkLocation, SIGN_UP_TARGET};
use serde_json::{Value, json};

use super::View;
use crate::escape_html;

/// The link the executor takes for "Forgot your password?".
const FORGOT_PASSWORD: &str = "forgotPassword";

/// One field as drawn: its claim, input, label, help and checks.
#[derive(Debug, Clone)]
pub(crate) struct FieldView {
    pub(crate) id: String,
    /// B2C's `UserInputType`.
    input: String,
    required: bool,
    value: String,
    label: String,
    help: Option<String>,
    /// Restriction/Pattern and its help text.
    pattern: Option<(String, Option<String>)>,
    /// The claim's PredicateValidation, for the page script.
    predicates: Option<Value>,
    /// Restriction enumeration: (text, value, selected).
    options: Vec<(String, String, bool)>,
}

impl FieldView {
    /// The field's `SA_FIELDS.AttributeFields` entry.
    pub(crate) fn sa_field(&self) -> Value {
        let t = self.input.as_str();
        json!({
            "UX_INPUT_TYPE": t, "USER_INPUT_TYPE": t, "IS_TEXT": t == "TextBox", "IS_EMAIL": t == "EmailBox",
            "IS_PASSWORD": t == "Password", "IS_DATE": t == "DateTimeDropdown", "IS_RADIO": t == "RadioSingleSelect",
            "IS_DROP": t == "DropdownSingleSelect", "IS_TEXT_IN_PARAGRAPH": t == "Paragraph",
            "IS_CHECK_MULTI": t == "CheckboxMultiSelect", "IS_LINK": false, "VERIFY": false,
            "IS_REQ": self.required, "IS_RDO": t == "Readonly", "ID": self.id, "DN": self.label,
            "U_HELP": self.help.clone().unwrap_or_default(), "PRE": self.value,
            "DAY_PRE": "0", "MONTH_PRE": "0", "YEAR_PRE": "0",
            "PATTERN": self.pattern.as_ref().map(|p| p.0.clone()),
            "PAT_DESC": self.pattern.as_ref().and_then(|p| p.1.clone()),
            "OPTIONS": self.options.iter().map(|(text, value, sel)| json!({ "DN": text, "VAL": value, "SEL": sel })).collect::<Vec<_>>(),
        })
    }
}

/// The fields of the page, with what the policy says of each claim in the page's language.
pub(crate) fn field_views(view: &View<'_>) -> Vec<FieldView> {
    view.fields
        .iter()
        .map(|f| {
            let ct = view.policy.claim(&f.claim);
            let id = ct.map_or_else(|| f.claim.clone(), |c| c.id.value.to_string());
            let input = f.input_type.clone().unwrap_or_else(|| "TextBox".to_owned());
            let value = f.prefilled.clone().unwrap_or_default();
            let label = view
                .strings
                .claim(&id, "DisplayName")
                .map(str::to_owned)
                .or_else(|| ct.and_then(|c| c.display_name.clone()))
                .unwrap_or_else(|| match &view.page.kind {
                    PageKind::Code { .. } => {
                        view.ux("verification_code_input_placeholder_text", "Verification code").to_owned()
                    }
                    _ => id.clone(),
                });
            let help = view.strings.claim(&id, "UserHelpText").map(str::to_owned).or_else(|| user_help_text(view, &id));
            let pattern = ct.and_then(|c| c.restriction.as_ref()).and_then(|r| r.pattern.as_ref()).map(|(re, help)| {
                let help = view.strings.claim(&id, "PatternHelpText").map(str::to_owned).or_else(|| help.clone());
                (re.value.to_string(), help)
            });
            let options = ct.map(|c| enumeration(view, c, &value)).unwrap_or_default();
            FieldView {
                predicates: ct.and_then(|c| predicates(view, c)),
                id,
                input,
                required: f.required,
                value,
                label,
                help,
                pattern,
                options,
            }
        })
        .collect()
}

/// A claim's `UserHelpText` as the ClaimsSchema writes it.
fn user_help_text(view: &View<'_>, id: &str) -> Option<String> {
    view.tree
        .child("BuildingBlocks")?
        .child("ClaimsSchema")?
        .children_named("ClaimType")
        .filter(|c| c.attr("Id").is_some_and(|i| i.eq_ignore_ascii_case(id)))
        .find_map(|c| c.child_text("UserHelpText"))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// A claim's Restriction items, localized when the policy localizes them; the prefilled value
/// is selected, else the items marked SelectByDefault.
fn enumeration(view: &View<'_>, claim: &ClaimType, value: &str) -> Vec<(String, String, bool)> {
    let written = claim.restriction.as_ref().map(|r| r.enumerations.as_slice()).unwrap_or_default();
    let selected = |v: &str| claim.shows_selected(v, value);
    match view.strings.collection(&claim.id.value) {
        Some(items) => items.iter().map(|(t, v)| (t.clone(), v.clone(), selected(v))).collect(),
        None => written.iter().map(|(t, v, _)| (t.clone(), v.clone(), selected(v))).collect(),
    }
}

/// The claim's PredicateValidation as the page script checks it: groups of predicates, each
/// group passing when `atLeast` of its predicates pass (all when absent).
fn predicates(view: &View<'_>, claim: &ClaimType) -> Option<Value> {
    let id = claim.predicate_validation.as_ref()?;
    let validation = view.policy.predicate_validations.iter().find(|v| v.id.value == id.value)?;
    let groups: Vec<Value> = validation
        .groups
        .iter()
        .map(|g| {
            let list: Vec<Value> = g
                .predicates
                .iter()
                .filter_map(|p| view.policy.predicates.iter().find(|d| d.id.value == p.value))
                .map(|p| {
                    let params: serde_json::Map<String, Value> =
                        p.parameters.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
                    let help = view.strings.validation("Predicate", &p.id.value, "HelpText").map(str::to_owned);
                    let help = help.or_else(|| p.user_help_text.clone()).or_else(|| p.help_text.clone());
                    json!({ "method": p.method.value.as_str(), "help": help, "params": params })
                })
                .collect();
            let help = view.strings.validation("InputValidation", &id.value, &g.id.value).map(str::to_owned);
            json!({ "help": help.or_else(|| g.user_help_text.clone()), "atLeast": g.match_at_least, "predicates": list })
        })
        .collect();
    Some(json!(groups))
}

/// The page's body for its kind.
pub(crate) fn body(view: &View<'_>, fields: &[FieldView]) -> String {
    match &view.page.kind {
        PageKind::Selection { sign_in: Some(_), .. } => unified(view, fields),
        PageKind::Selection { .. } => selection(view),
        PageKind::Code { to } => code(view, fields, to),
        PageKind::Form { .. } => self_asserted(view, fields),
        PageKind::Redirect { .. } => String::new(),
    }
}

/// The page-level error: hidden until there is one.
fn page_error(view: &View<'_>) -> String {
    let message = view.page.error.as_deref().map(|e| view.strings.error(&view.english, e));
    let hidden = if message.is_some() { "false" } else { "true" };
    format!(
        "<div class=\"error pageLevel\" aria-hidden=\"{hidden}\" role=\"alert\"><p>{}</p></div>",
        escape_html(message.as_deref().unwrap_or_default())
    )
}

/// A form that posts to `SelfAsserted`, with the CSRF token for browsers without JavaScript.
fn form_open(view: &View<'_>, id: &str) -> String {
    let action = format!(
        "{}/SelfAsserted?{}",
        view.tenant_path,
        crate::form_encode(&[("tx", &view.txp), ("p", &view.policy.policy_id)])
    );
    format!(
        "<form id=\"{id}\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
<input type=\"hidden\" name=\"request_type\" value=\"RESPONSE\">",
        escape_html(&action),
        escape_html(view.csrf)
    )
}

fn cancel_button(view: &View<'_>) -> String {
    if !view.page.settings.show_cancel_button {
        return String::new();
    }
    format!(
        "<button id=\"cancel\" name=\"cancel\" value=\"true\" type=\"submit\" formnovalidate>{}</button>",
        escape_html(view.ux("button_cancel", "Cancel"))
    )
}

fn item_error(id: &str) -> String {
    format!(
        "<div class=\"error itemLevel\" id=\"{}_error\" aria-hidden=\"true\" role=\"alert\"><p></p></div>",
        escape_html(id)
    )
}

/// The input of a field, by its UserInputType.
fn input(view: &View<'_>, f: &FieldView) -> String {
    let id = escape_html(&f.id);
    let value = escape_html(&f.value);
    let required = if f.required { " required aria-required=\"true\"" } else { "" };
    let mut data = String::new();
    if let Some((pattern, help)) = &f.pattern {
        data.push_str(&format!(" data-pattern=\"{}\"", escape_html(pattern)));
        if let Some(help) = help {
            data.push_str(&format!(" data-pattern-help=\"{}\"", escape_html(help)));
        }
    }
    if let Some(p) = &f.predicates {
        data.push_str(&format!(" data-predicates=\"{}\"", escape_html(&p.to_string())));
    }
    let described = if f.help.is_some() { format!(" aria-describedby=\"{id}_help\"") } else { String::new() };
    let missing = view.ux("required_field", "This information is required.");
    data.push_str(&format!(" data-required-message=\"{}\"", escape_html(missing)));
    let text = |kind: &str, extra: &str| {
        format!(
            "<input type=\"{kind}\" id=\"{id}\" name=\"{id}\" value=\"{value}\" title=\"{}\"{extra}{required}{described}{data}>",
            escape_html(&f.label)
        )
    };
    match f.input.as_str() {
        "Password" => {
            let complete = if view.api == "CombinedSigninAndSignup" { "current-password" } else { "new-password" };
            text("password", &format!(" autocomplete=\"{complete}\""))
        }
        "EmailBox" => text("email", " autocomplete=\"email\""),
        "Readonly" => text("text", " readonly"),
        "DateTimeDropdown" => text("date", ""),
        // Without a value, a paragraph shows its name (the TOTP sample's instructions).
        "Paragraph" => {
            let text = if f.value.is_empty() { escape_html(&f.label) } else { value };
            format!("<div class=\"textInParagraph\" id=\"{id}\">{text}</div>")
        }
        "DropdownSingleSelect" => {
            let mut out = format!(
                "<select id=\"{id}\" name=\"{id}\" class=\"dropdown_single\"{required}{described}{data}><option value=\"\"></option>"
            );
            for (t, v, sel) in &f.options {
                let selected = if *sel { " selected" } else { "" };
                out.push_str(&format!("<option value=\"{}\"{selected}>{}</option>", escape_html(v), escape_html(t)));
            }
            out.push_str("</select>");
            out
        }
        "RadioSingleSelect" | "CheckboxMultiSelect" => {
            let (kind, class) =
                if f.input == "RadioSingleSelect" { ("radio", "radio-group") } else { ("checkbox", "checkbox-group") };
            let role = if kind == "radio" { " role=\"radiogroup\"" } else { " role=\"group\"" };
            let mut out = format!("<div class=\"{class}\" id=\"{id}\"{role} aria-labelledby=\"{id}_label\"{data}>");
            // Posted with the boxes: a form with none ticked still says so (browsers post no unticked box).
            if kind == "checkbox" {
                out.push_str(&format!("<input type=\"hidden\" name=\"{id}\" value=\"\">"));
            }
            for (t, v, sel) in &f.options {
                let item = escape_html(&format!("{}_{}", f.id, v));
                let checked = if *sel { " checked" } else { "" };
                out.push_str(&format!(
                    "<div><input type=\"{kind}\" id=\"{item}\" name=\"{id}\" value=\"{}\"{checked}><label for=\"{item}\">{}</label></div>",
                    escape_html(v),
                    escape_html(t)
                ));
            }
            out.push_str("</div>");
            out
        }
        "Button" => format!("<button type=\"button\" id=\"{id}\">{}</button>", escape_html(&f.label)),
        "TextBox" if matches!(view.page.kind, PageKind::Code { .. }) => {
            text("text", " autocomplete=\"one-time-code\" inputmode=\"numeric\"")
        }
        "TextBox" if view.page_type == "multifactor" => text("tel", " autocomplete=\"tel\""),
        _ => text("text", ""),
    }
}

/// A field of a self-asserted page: `li.{InputType} .attrEntry` with label, error and help.
fn field_item(view: &View<'_>, f: &FieldView) -> String {
    let id = escape_html(&f.id);
    let grouped = matches!(f.input.as_str(), "RadioSingleSelect" | "CheckboxMultiSelect");
    let label = if f.input == "Paragraph" {
        String::new()
    } else if grouped {
        format!("<label id=\"{id}_label\">{}</label>", escape_html(&f.label))
    } else {
        format!("<label id=\"{id}_label\" for=\"{id}\">{}</label>", escape_html(&f.label))
    };
    let help = f
        .help
        .as_ref()
        .map(|h| format!("<div class=\"helpText show\" id=\"{id}_help\">{}</div>", escape_html(h)))
        .unwrap_or_default();
    let pattern_help = f
        .pattern
        .as_ref()
        .and_then(|p| p.1.as_ref())
        .filter(|_| f.help.is_none())
        .map(|h| format!("<div class=\"helpText\" id=\"{id}_help\">{}</div>", escape_html(h)))
        .unwrap_or_default();
    format!(
        "<li class=\"{}\"><div class=\"attrEntry\">{label}{}{help}{pattern_help}{}</div></li>",
        escape_html(&f.input),
        item_error(&f.id),
        input(view, f)
    )
}

/// What the self-asserted page draws, in order: its fields and display controls.
enum Item<'a> {
    Field(&'a FieldView),
    Control(&'a ief_engine::model::DisplayControl),
}

fn items<'a>(view: &'a View<'_>, fields: &'a [FieldView]) -> Vec<Item<'a>> {
    let policy = view.policy;
    let controls: Vec<&ief_engine::model::DisplayControl> = policy
        .profile(&view.page.profile)
        .map(|tp| {
            tp.display_claims
                .iter()
                .filter_map(|dc| dc.display_control.as_ref())
                .filter_map(|c| policy.display_controls.iter().find(|d| d.id.value == c.value))
                .collect()
        })
        .unwrap_or_default();
    let in_control = |id: &str| {
        controls.iter().any(|c| {
            c.display_claims.iter().any(|d| d.claim.as_ref().is_some_and(|x| x.value.eq_ignore_ascii_case(id)))
        })
    };
    let mut out: Vec<Item<'_>> = Vec::new();
    let mut placed: Vec<&str> = Vec::new();
    if let Some(tp) = policy.profile(&view.page.profile).filter(|_| !controls.is_empty()) {
        for dc in &tp.display_claims {
            if let Some(c) = dc.display_control.as_ref().and_then(|c| controls.iter().find(|d| d.id.value == c.value)) {
                if !placed.contains(&c.id.value.as_str()) {
                    placed.push(&c.id.value);
                    out.push(Item::Control(c));
                }
            } else if let Some(f) =
                dc.claim.as_ref().and_then(|c| fields.iter().find(|f| f.id.eq_ignore_ascii_case(&c.value)))
            {
                out.push(Item::Field(f));
                placed.push(&f.id);
            }
        }
    }
    for f in fields {
        if !placed.contains(&f.id.as_str()) && !in_control(&f.id) {
            out.push(Item::Field(f));
        }
    }
    out
}

/// A display control: its claims and its action buttons (`.sendCode`, `.verifyCode`,
/// `.sendNewCode`, `.changeClaims`), which the page script calls.
fn control(view: &View<'_>, c: &ief_engine::model::DisplayControl, fields: &[FieldView]) -> String {
    let id = escape_html(&c.id.value);
    let kind = c.control_type.as_deref().unwrap_or("VerificationControl");
    let verification = kind == "VerificationControl";
    let mut out = format!(
        "<li class=\"{kind}\"><div class=\"{kind} verificationControlContent\" id=\"{id}\" data-control=\"{id}\">",
        kind = escape_html(kind)
    );
    if verification {
        out.push_str(&format!(
            "<div class=\"verificationInfoText\" id=\"{id}_info\" aria-hidden=\"true\" role=\"status\"><p>{}</p></div>\
<div class=\"verificationSuccessText\" id=\"{id}_success\" aria-hidden=\"true\" role=\"status\"><p>{}</p></div>\
<div class=\"error pageLevel\" id=\"{id}_error\" aria-hidden=\"true\" role=\"alert\"><p></p></div>",
            escape_html(view.ux("success_send_code_msg", view.ux("ver_info_msg", ""))),
            escape_html(view.ux("success_verify_code_msg", view.ux("ver_success_msg", ""))),
        ));
    }
    out.push_str("<ul>");
    for dc in &c.display_claims {
        let Some(claim) = &dc.claim else { continue };
        let control_type = dc.control_claim_type.as_deref().unwrap_or_default();
        if control_type.eq_ignore_ascii_case("VerificationCode") {
            // No name: the code goes with the control's VerifyCode call, never with the form.
            let cid = escape_html(&format!("{}_{}", c.id.value, claim.value));
            let label = view.policy.claim(&claim.value).and_then(|ct| ct.display_name.clone());
            let label = view.strings.claim(&claim.value, "DisplayName").map(str::to_owned).or(label);
            out.push_str(&format!(
                "<li class=\"TextBox code\" hidden><div class=\"attrEntry\"><label for=\"{cid}\">{}</label>{}\
<input type=\"text\" id=\"{cid}\" data-claim=\"{}\" class=\"verificationCode\" autocomplete=\"one-time-code\" inputmode=\"numeric\"></div></li>",
                escape_html(label.as_deref().unwrap_or_else(|| view.ux("ver_input", "Verification code"))),
                item_error(&format!("{}_{}", c.id.value, claim.value)),
                escape_html(&claim.value)
            ));
        } else if control_type.eq_ignore_ascii_case("QrCodeImage") || control_type.eq_ignore_ascii_case("QrCodeContent")
        {
            let value = fields.iter().find(|f| f.id.eq_ignore_ascii_case(&claim.value)).map(|f| f.value.as_str());
            out.push_str(&qr_item(view, control_type, value.unwrap_or_default()));
        } else if let Some(f) = fields.iter().find(|f| f.id.eq_ignore_ascii_case(&claim.value)) {
            out.push_str(&field_item(view, f));
        }
    }
    out.push_str("</ul>");
    if !verification {
        out.push_str("</div></li>");
        return out;
    }
    out.push_str("<div class=\"buttons\">");
    for (action, _) in &c.actions {
        let (class, string, fallback) = match action.value.as_str() {
            "SendCode" => ("sendCode", "but_send_code", view.ux("ver_but_send", "Send verification code")),
            "VerifyCode" => ("verifyCode", "but_verify_code", view.ux("ver_but_verify", "Verify code")),
            _ => ("action", "", action.value.as_str()),
        };
        let text = if string.is_empty() { fallback } else { view.ux(string, fallback) };
        // Shown by the page script once a code was sent: hidden, so not focusable before.
        let hidden = if class == "verifyCode" { " hidden" } else { "" };
        out.push_str(&format!(
            "<button type=\"button\" id=\"{id}_but_{}\" class=\"{class}\" data-action=\"{}\"{hidden}>{}</button>",
            escape_html(&snake(&action.value)),
            escape_html(&action.value),
            escape_html(text)
        ));
        if class == "verifyCode" {
            out.push_str(&format!(
                "<button type=\"button\" id=\"{id}_but_send_new_code\" class=\"sendNewCode\" data-action=\"SendCode\" hidden>{}</button>",
                escape_html(view.ux("but_send_new_code", view.ux("ver_but_resend", "Send new code")))
            ));
        }
    }
    if c.actions.iter().any(|(a, _)| a.value == "VerifyCode") {
        out.push_str(&format!(
            "<button type=\"button\" id=\"{id}_but_change_claims\" class=\"changeClaims\" hidden>{}</button>",
            escape_html(view.ux("but_change_claims", view.ux("ver_but_edit", "Change e-mail")))
        ));
    }
    out.push_str("</div></div></li>");
    out
}

/// `SendCode` → `send_code`, as B2C names a control's buttons (`{control}_but_send_code`).
fn snake(action: &str) -> String {
    let mut out = String::new();
    for (i, c) in action.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A QR code control's claim: the authenticator app's `otpauth://` address drawn as a QR code
/// (inline SVG), and as a link and text for a phone that cannot scan its own screen.
fn qr_item(view: &View<'_>, control_type: &str, value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    let alt = escape_html(view.ux("qr_code_alt", "Scan this QR code with your authenticator app"));
    let image = qrcode::QrCode::new(value.as_bytes())
        .map(|code| code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build())
        .ok()
        .and_then(|svg| {
            svg.find("<svg").map(|at| svg[at..].replacen("<svg", &format!("<svg role=\"img\" aria-label=\"{alt}\""), 1))
        })
        .unwrap_or_default();
    let link = if value.starts_with("otpauth://") {
        format!(
            "<a class=\"qrCodeLink\" href=\"{0}\">{1}</a>",
            escape_html(value),
            escape_html(view.ux("link_text", "Can't scan? Try this"))
        )
    } else {
        String::new()
    };
    format!(
        "<li class=\"qrCodeControl {}\"><p>{}</p><div class=\"qrCodeImage\">{image}</div>{link}</li>",
        escape_html(control_type),
        escape_html(view.ux("totp_intro", "Scan the QR code with your authenticator app."))
    )
}

fn self_asserted(view: &View<'_>, fields: &[FieldView]) -> String {
    let multifactor = view.page_type == "multifactor";
    let intro = if multifactor {
        view.ux("intro_entry_sms", "Enter a number below that we can send a code via SMS to authenticate you.")
    } else {
        view.ux("initial_intro", "Please provide the following details.")
    };
    let list: String = items(view, fields)
        .into_iter()
        .map(|item| match item {
            Item::Field(f) => field_item(view, f),
            Item::Control(c) => control(view, c, fields),
        })
        .collect();
    let mut buttons = String::new();
    if view.page.settings.show_continue_button {
        let (id, text) = if multifactor {
            ("verifyPhone", view.ux("button_send_code", "Send Code"))
        } else {
            ("continue", view.ux("button_continue", "Continue"))
        };
        buttons.push_str(&format!("<button id=\"{id}\" type=\"submit\">{}</button>", escape_html(text)));
    }
    format!("<div class=\"intro\"><p>{}</p></div>{}", escape_html(intro), attribute_form(view, &list, &buttons))
}

/// The `#attributeVerification` form: the page error, the `list` items, then `buttons` and
/// the cancel button.
fn attribute_form(view: &View<'_>, list: &str, buttons: &str) -> String {
    format!(
        "{}{}<div id=\"attributeList\" class=\"attr\"><ul>{list}</ul></div><div class=\"buttons\">{buttons}{}</div></form>",
        form_open(view, "attributeVerification"),
        page_error(view),
        cancel_button(view)
    )
}

/// A verification code sent to a phone or an address.
fn code(view: &View<'_>, fields: &[FieldView], to: &str) -> String {
    let intro = if view.page_type == "multifactor" {
        view.ux("enter_code_text_intro", "Enter your verification code below, or")
    } else {
        view.ux("ver_info_msg", "Verification code has been sent. Please copy it to the input box below.")
    };
    let list: String = fields.iter().map(|f| field_item(view, f)).collect();
    let mut buttons = format!(
        "<button id=\"verifyCode\" type=\"submit\">{}</button>",
        escape_html(view.ux("button_verify_code", view.ux("ver_but_verify", "Verify code")))
    );
    // B2C's "send a new code" link, as a button so that it works without the page script.
    if view.page_type == "multifactor" {
        buttons.push_str(&format!(
            "<button id=\"retryCode\" class=\"retryCode\" name=\"resend\" value=\"true\" type=\"submit\" formnovalidate>{}</button>",
            escape_html(view.ux("text_button_send_second_code", "Send a new code"))
        ));
    }
    format!(
        "<div class=\"intro\"><p>{} <span class=\"number\" id=\"codeDestination\">{}</span></p></div>{}",
        escape_html(intro),
        escape_html(to),
        attribute_form(view, &list, &buttons)
    )
}

/// A button's words: the policy's localized ClaimsProvider string, else the profile's name.
fn button_label(view: &View<'_>, exchange: &str) -> String {
    if let Some(s) = view.strings.provider(exchange) {
        return s.to_owned();
    }
    let profile = view
        .policy
        .user_journeys
        .iter()
        .chain(view.policy.sub_journeys.iter())
        .flat_map(|j| j.steps.iter())
        .flat_map(|s| s.exchanges.iter())
        .find(|e| e.id.value == exchange)
        .and_then(|e| view.policy.profile(&e.profile.value));
    profile.and_then(|tp| tp.display_name.clone()).unwrap_or_else(|| exchange.to_owned())
}

/// Buttons that each run a claims exchange: a GET form, so they work without JavaScript.
fn buttons(view: &View<'_>, options: &[&String]) -> String {
    let action = format!("{}/api/{}/unified", view.tenant_path, view.api);
    let mut out = format!("<form class=\"options\" method=\"get\" action=\"{}\">", escape_html(&action));
    for (name, value) in [("csrf_token", view.csrf), ("tx", view.txp.as_str()), ("p", view.policy.policy_id.as_str())] {
        out.push_str(&format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape_html(value)));
    }
    out.push_str("<ul>");
    for option in options {
        out.push_str(&format!(
            "<li><button class=\"accountButton\" id=\"{0}\" name=\"claimsexchange\" value=\"{0}\" type=\"submit\">{1}</button></li>",
            escape_html(option),
            escape_html(&button_label(view, option))
        ));
    }
    out.push_str("</ul></form>");
    out
}

/// The provider selection page (`providerselection`), or a phone factor's choice of number.
fn selection(view: &View<'_>) -> String {
    let intro = view.ux("intro", "Sign in");
    let options: Vec<&String> = view.options.iter().collect();
    format!("<div class=\"intro\"><h2>{}</h2></div>{}", escape_html(intro), buttons(view, &options))
}

/// The combined sign-in and sign-up page (`unifiedssp`).
fn unified(view: &View<'_>, fields: &[FieldView]) -> String {
    let settings = &view.page.settings;
    let link_target =
        |setting: &str| settings.links.iter().find(|l| l.setting == setting && l.shown).map(|l| l.target.as_str());
    let sign_up =
        link_target(SIGN_UP_TARGET).filter(|t| view.options.iter().any(|o| o == t)).map(str::to_owned).or_else(|| {
            (settings.links.iter().all(|l| l.setting != SIGN_UP_TARGET))
                .then(|| view.options.iter().find(|o| o.to_ascii_lowercase().contains("signup")).cloned())
                .flatten()
        });
    let forgot_override = link_target(FORGOT_PASSWORD_OVERRIDE);
    let social: Vec<&String> = view
        .options
        .iter()
        .filter(|o| Some(o.as_str()) != sign_up.as_deref() && Some(o.as_str()) != forgot_override)
        .collect();
    let forgot = (settings.forgot_password_link_location != ForgotPasswordLinkLocation::None).then(|| {
        let href = format!(
            "{}/api/{}/unified?{}",
            view.tenant_path,
            view.api,
            view.query(&[("claimsexchange", FORGOT_PASSWORD)])
        );
        format!(
            "<a id=\"forgotPassword\" href=\"{}\">{}</a>",
            escape_html(&href),
            escape_html(view.ux("forgotpassword_link", "Forgot your password?"))
        )
    });
    let at = |place: ForgotPasswordLinkLocation| {
        if settings.forgot_password_link_location == place { forgot.clone() } else { None }
    };

    let first = fields.first().map(|f| f.label.to_lowercase()).unwrap_or_default();
    let intro = view.ux("local_intro_generic", "Sign in with your {0}").replace("{0}", &first);
    let mut out = format!(
        "<div class=\"heading\"><h1>{}</h1></div><div class=\"localAccount\"><div class=\"intro\"><h2>{}</h2></div>",
        escape_html(view.ux("heading", "Sign in")),
        escape_html(&intro)
    );
    out.push_str(&page_error(view));
    out.push_str(&form_open(view, "localAccountForm"));
    out.push_str("<div class=\"entry\">");
    let by_email = !settings.operating_mode.as_deref().is_some_and(|m| m.eq_ignore_ascii_case("Username"));
    for f in fields {
        // `setting.operatingMode` Email (the default) asks for the sign-in name as an address.
        let mut f = f.clone();
        if by_email && f.input == "TextBox" {
            f.input = "EmailBox".to_owned();
        }
        let f = &f;
        let id = escape_html(&f.id);
        let label = format!("<label id=\"{id}_label\" for=\"{id}\">{}</label>", escape_html(&f.label));
        let password = f.input == "Password";
        let label = match (password, at(ForgotPasswordLinkLocation::AfterLabel)) {
            (true, Some(link)) => format!("<div class=\"password-label\">{label}{link}</div>"),
            _ => label,
        };
        let after =
            if password { at(ForgotPasswordLinkLocation::AfterInput).unwrap_or_default() } else { String::new() };
        out.push_str(&format!("<div class=\"entry-item\">{label}{}{}{after}</div>", item_error(&f.id), input(view, f)));
    }
    if settings.enable_remember_me {
        // No name: the choice travels as `rememberMe` on the confirmed call, as B2C's.
        out.push_str(&format!(
            "<div class=\"rememberMe\"><input type=\"checkbox\" id=\"rememberMe\"><label for=\"rememberMe\">{}</label></div>",
            escape_html(view.ux("remember_me", "Keep me signed in"))
        ));
    }
    out.push_str("<div class=\"buttons\">");
    if settings.show_continue_button {
        out.push_str(&format!(
            "<button id=\"next\" type=\"submit\">{}</button>",
            escape_html(view.ux("button_signin", "Sign in"))
        ));
    }
    out.push_str(&cancel_button(view));
    out.push_str("</div>");
    out.push_str(&at(ForgotPasswordLinkLocation::AfterButtons).unwrap_or_default());
    out.push_str("</div></form>");
    if sign_up.is_some() {
        let href = format!("{}/api/{}/unified?{}", view.tenant_path, view.api, view.query(&[("local", "signup")]));
        out.push_str(&format!(
            "<div class=\"create\"><p>{} <a id=\"createAccount\" href=\"{}\">{}</a></p></div>",
            escape_html(view.ux("createaccount_intro", "Don't have an account?")),
            escape_html(&href),
            escape_html(view.ux("createaccount_one_link", "Sign up now"))
        ));
    }
    out.push_str("</div>");
    if !social.is_empty() {
        out.push_str(&format!(
            "<div class=\"divider\"><h2>{}</h2></div><div class=\"claims-provider-list-buttons social\"><div class=\"intro\"><h2>{}</h2></div>{}</div>",
            escape_html(view.ux("divider_title", "OR")),
            escape_html(view.ux("social_intro", "Sign in with your social account")),
            buttons(view, &social)
        ));
    }
    out
}
