/* ief page script (MIT): B2C's page contract without B2C's bundle. It reads SETTINGS,
   CONTENT and SA_FIELDS, checks fields as the policy asks, makes the page calls of
   server-spec §2.6 with the CSRF header and shows B2C's JSON errors in place. Without it the
   page's plain forms still work. */
(function () {
  "use strict";
  var S = window.SETTINGS, C = window.CONTENT || {}, F = (window.SA_FIELDS || {}).AttributeFields || [];
  if (!S || !S.hosts) { return; }

  function text(id, fallback) { return C[id] || fallback; }
  /* Pairs as `k=v&...`; a form body (application/x-www-form-urlencoded, `form`) writes the
     values' spaces as "+", as B2C's page posts them, a URL's query as "%20". */
  function encode(pairs, form) {
    return pairs.map(function (p) {
      var value = encodeURIComponent(p[1]);
      return encodeURIComponent(p[0]) + "=" + (form ? value.replace(/%20/g, "+") : value);
    }).join("&");
  }
  /* The query of a page call: `extra`, then the sign-in and the policy. */
  function query(extra) {
    return encode((extra || []).concat([["tx", S.transId], ["p", S.hosts.policy]]), false);
  }
  function show(el, message) {
    if (!el) { return; }
    var p = el.querySelector("p") || el;
    p.textContent = message || "";
    el.setAttribute("aria-hidden", message ? "false" : "true");
    el.style.display = message ? "block" : "none";
  }
  function toggle(el, visible) {
    if (el) { el.hidden = !visible; }
  }
  function regex(pattern) { try { return new RegExp(pattern); } catch (e) { return null; } }

  /* A predicate of the policy's PredicateValidation, as B2C's methods define them. */
  function passes(p, value) {
    var k = p.params || {};
    switch (p.method) {
      case "IsLengthRange":
        return value.length >= Number(k.Minimum || 0) && value.length <= Number(k.Maximum || Infinity);
      case "MatchesRegex": { var r = regex(k.RegularExpression); return !r || r.test(value); }
      case "IncludesCharacters": {
        var set = k.CharacterSet || "", r2 = regex("[" + set + "]");
        return !r2 || r2.test(value);
      }
      default: return true;
    }
  }
  function predicateError(groups, value) {
    for (var g = 0; g < groups.length; g++) {
      var group = groups[g], ok = 0, failed = [];
      for (var i = 0; i < group.predicates.length; i++) {
        if (passes(group.predicates[i], value)) { ok++; } else { failed.push(group.predicates[i].help); }
      }
      var need = group.atLeast == null ? group.predicates.length : group.atLeast;
      if (ok < need) { return group.help || failed.filter(Boolean).join(" "); }
    }
    return "";
  }

  /* The error a field's value has, or "" (server-side checks still apply). */
  function check(input) {
    var value = input.value || "", message = "";
    if (input.required && !value.trim()) {
      message = input.getAttribute("data-required-message") || text("required_field", "This information is required.");
    } else if (value && input.getAttribute("data-pattern")) {
      var r = regex(input.getAttribute("data-pattern"));
      if (r && !r.test(value)) { message = input.getAttribute("data-pattern-help") || text("error_fieldIncorrect", "Incorrect value."); }
    }
    if (!message && value && input.getAttribute("data-predicates")) {
      try { message = predicateError(JSON.parse(input.getAttribute("data-predicates")), value); } catch (e) { message = ""; }
    }
    show(document.getElementById(input.id + "_error"), message);
    input.setAttribute("aria-invalid", message ? "true" : "false");
    return !message;
  }

  function post(url, body, done) {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8");
    xhr.setRequestHeader("X-CSRF-TOKEN", S.csrf);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("Accept", "application/json, text/javascript, */*; q=0.01");
    xhr.onload = function () {
      var answer;
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = { status: String(xhr.status), message: text("unknown_error", "We are having trouble signing you in. Please try again later.") }; }
      done(answer);
    };
    xhr.onerror = function () { done({ status: "0", message: text("unknown_error", "We are having trouble signing you in. Please try again later.") }); };
    xhr.send(body);
  }
  /* A form's fields as B2C posts them: one value per claim, checkboxes joined by commas. */
  function values(form) {
    var out = [], seen = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.name === "csrf_token" || el.name === "request_type" || el.type === "submit" || el.type === "button") { return; }
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) { return; }
      /* The group's hidden empty field comes first: a ticked box replaces it. */
      if (el.type === "checkbox" && seen[el.name] !== undefined) { var e = out[seen[el.name]]; e[1] = e[1] === "" ? el.value : e[1] + "," + el.value; return; }
      seen[el.name] = out.length;
      var v = el.value;
      if (el.type === "password" && S.trimSpacesInPassword === false) { out.push([el.name, v]); return; }
      out.push([el.name, el.type === "password" ? v : v.trim()]);
    });
    return out;
  }
  function continueTo() {
    var remember = document.getElementById("rememberMe");
    var extra = [["csrf_token", S.csrf]];
    if (remember) { extra.unshift(["rememberMe", remember.checked ? "true" : "false"]); }
    window.location.href = S.hosts.tenant + "/api/" + S.api + "/confirmed?" + query(extra);
  }

  function wireForm(form) {
    form.noValidate = true;
    var pageError = form.querySelector(".error.pageLevel") || document.querySelector("#api > .localAccount > .error.pageLevel");
    Array.prototype.forEach.call(form.querySelectorAll("input[id], select[id]"), function (input) {
      if (input.type !== "hidden" && input.name) { input.addEventListener("blur", function () { if (input.value) { check(input); } }); }
    });
    form.addEventListener("submit", function (event) {
      // Cancel and "send a new code" are plain form posts: the server answers with the next page.
      if (event.submitter && (event.submitter.id === "cancel" || event.submitter.id === "retryCode")) { return; }
      event.preventDefault();
      var ok = true;
      Array.prototype.forEach.call(form.querySelectorAll("input[name], select[name]"), function (input) {
        if (input.type !== "hidden" && input.type !== "radio" && input.type !== "checkbox" && !check(input)) { ok = false; }
      });
      var unverified = form.querySelector(".verificationControlContent:not([data-verified])");
      if (unverified && unverified.querySelector("[data-action=VerifyCode]")) {
        show(pageError, text("error_requiredFieldMissing", "A required field is missing. Please fill out all required fields and try again."));
        return;
      }
      if (!ok) {
        show(pageError, text("error_fieldIncorrect", "One or more fields are filled out incorrectly. Please check your entries and try again."));
        return;
      }
      show(pageError, "");
      var buttons = form.querySelectorAll("button");
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
      var body = encode([["request_type", "RESPONSE"]].concat(values(form)), true);
      post(S.hosts.tenant + "/SelfAsserted?" + query(), body, function (answer) {
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
        if (answer.status === "200") { continueTo(); return; }
        show(pageError, answer.message || text("unknown_error", "Please try again."));
        if (pageError && pageError.focus) { pageError.setAttribute("tabindex", "-1"); pageError.focus(); }
      });
    });
  }

  /* A display control: SendCode, VerifyCode, send a new code, change the claims. */
  function wireControl(box) {
    var id = box.getAttribute("data-control");
    var info = document.getElementById(id + "_info"), success = document.getElementById(id + "_success");
    var error = document.getElementById(id + "_error");
    var code = box.querySelector("input.verificationCode");
    var codeItem = code && code.closest("li");
    var inputs = Array.prototype.filter.call(box.querySelectorAll("input[name], select[name]"), function (i) { return i.type !== "hidden"; });
    function button(cls) { return box.querySelector("button." + cls); }
    function state(sent, verified) {
      toggle(codeItem, sent && !verified);
      toggle(button("sendCode"), !sent && !verified);
      toggle(button("verifyCode"), sent && !verified);
      toggle(button("sendNewCode"), sent && !verified);
      toggle(button("changeClaims"), sent || verified);
      show(info, sent && !verified ? text("success_send_code_msg", text("ver_info_msg", "Verification code has been sent.")) : "");
      show(success, verified ? text("success_verify_code_msg", text("ver_success_msg", "Verified. You can now continue.")) : "");
      inputs.forEach(function (i) { i.readOnly = sent || verified; });
      if (verified) { box.setAttribute("data-verified", "true"); } else { box.removeAttribute("data-verified"); }
    }
    function act(action) {
      var pairs = [];
      var ok = true;
      inputs.forEach(function (i) { if (!check(i)) { ok = false; } pairs.push([i.name, i.value.trim()]); });
      if (action === "VerifyCode" && code) { pairs.push([code.getAttribute("data-claim"), code.value.trim()]); }
      if (!ok) { return; }
      show(error, "");
      var url = S.hosts.tenant + "/SelfAsserted/DisplayControlAction/vbeta/" + encodeURIComponent(id) + "/" + action + "?" + query();
      post(url, encode(pairs, true), function (answer) {
        if (answer.status !== "200") {
          show(error, answer.message || text(action === "SendCode" ? "failure_send_code_msg" : "failure_verify_code_msg", "Please try again."));
          return;
        }
        state(true, action === "VerifyCode");
        if (action === "SendCode" && code) { code.value = ""; code.focus(); }
        // A submit's "verify first" message no longer holds once the code is verified.
        var form = box.closest("form");
        if (action === "VerifyCode" && form) { show(form.querySelector(".error.pageLevel:not([id])"), ""); }
      });
    }
    box.addEventListener("click", function (event) {
      var b = event.target.closest("button");
      if (!b) { return; }
      if (b.classList.contains("changeClaims")) { state(false, false); return; }
      if (b.getAttribute("data-action")) { act(b.getAttribute("data-action")); }
    });
    state(false, false);
  }

  function start() {
    document.documentElement.setAttribute("lang", document.documentElement.getAttribute("lang") || (S.locale && S.locale.lang) || "en");
    Array.prototype.forEach.call(document.querySelectorAll("#api .verificationControlContent[data-control]"), wireControl);
    Array.prototype.forEach.call(document.querySelectorAll("#localAccountForm, #attributeVerification"), wireForm);
    Array.prototype.forEach.call(document.querySelectorAll("#api .error[aria-hidden=true]"), function (e) { e.style.display = "none"; });
    var first = document.querySelector("#api input:not([type=hidden]):not([readonly]), #api select");
    if (first && first.focus && !(first.type === "password" && !S.allowAutoFocusOnPasswordField)) { first.focus(); }
    // Pre-filled values as SA_FIELDS carries them (a template's own script may read these too).
    F.forEach(function (f) { var el = document.getElementById(f.ID); if (el && f.PRE && !el.value && el.tagName === "INPUT") { el.value = f.PRE; } });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
