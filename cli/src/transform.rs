//! `ief transform list` and `ief transform run`.

use std::path::PathBuf;
use std::process::ExitCode;

use ief_engine::exec::PolicyEnv;
use ief_engine::model::{Policy, TechnicalProfile};
use ief_transforms::{ClaimValue, ClaimsBag, CompiledTransform, FixedEnv, catalog};
use serde_json::{Map, Value, json};

use crate::PolicyInput;
use crate::policy::{Loaded, load};

#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    input: PolicyInput,
    /// The ClaimsTransformation Id (for `ief bench profile`, the TechnicalProfile Id).
    #[arg(long)]
    pub(crate) id: String,
    /// Input claims as a JSON object mapping ClaimType Ids to values.
    #[arg(long = "input", value_name = "JSON")]
    input_json: String,
    /// Localization language for the localized-string methods.
    #[arg(long)]
    lang: Option<String>,
    /// Folder of policy keys, one file per StorageReferenceId (`B2C_1A_X.txt` holds a secret).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// Pin the clock (ISO 8601), for reproducible output.
    #[arg(long)]
    now: Option<String>,
    /// Seed of the random source.
    #[arg(long, default_value_t = 0)]
    seed: u8,
}

pub(crate) fn list() -> Result<ExitCode, String> {
    let mut methods: Vec<_> = catalog::methods().collect();
    methods.sort_by_key(|m| (m.signature.family, m.signature.method));
    for m in methods {
        outln!("{:<17} {}", m.signature.family.as_str(), m.signature);
    }
    Ok(ExitCode::SUCCESS)
}

/// Bad input: a message on stderr, exit 2.
fn bad_input(message: String) -> ExitCode {
    errln!("error: {message}");
    ExitCode::from(2)
}

/// A policy loaded for one transformation or profile, with the input claims in a bag.
pub(crate) struct Prepared {
    loaded: Loaded,
    index: usize,
    pub(crate) compiled: ief_engine::CompiledPolicy,
    pub(crate) bag: ClaimsBag,
    fixed: FixedEnv,
    culture: String,
}

impl Prepared {
    pub(crate) fn policy(&self) -> &Policy {
        &self.loaded.policies[self.index].model
    }

    /// The environment transformations see, as the executor gives it to `profile`.
    pub(crate) fn env<'a>(&'a self, profile: Option<&'a TechnicalProfile>) -> PolicyEnv<'a> {
        PolicyEnv { inner: &self.fixed, policy: self.policy(), profile, culture: &self.culture }
    }
}

/// Loads the policy that `has` the wanted element (named by `missing` when none has) and
/// reads `--input`; on bad input prints why and gives the exit code.
pub(crate) fn prepare(args: &RunArgs, has: impl Fn(&Policy) -> bool, missing: &str) -> Result<Prepared, ExitCode> {
    let loaded = load(&args.input);
    if loaded.diagnostics.iter().any(|d| d.is_error()) {
        err!("{}", crate::report::text(&loaded.diagnostics, &loaded.set.db));
        return Err(ExitCode::from(2));
    }
    let Some(index) = loaded.policies.iter().position(|p| has(&p.model)) else {
        return Err(bad_input(missing.to_owned()));
    };
    let policy = &loaded.policies[index].model;
    let input: Map<String, Value> = match serde_json::from_str(&args.input_json) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(bad_input("--input must be a JSON object".to_owned())),
        Err(e) => return Err(bad_input(format!("--input is not JSON: {e}"))),
    };
    let mut bag = ClaimsBag::with_capacity(policy.claim_types.len());
    for (name, value) in &input {
        let (Some(id), Some(ct)) = (policy.claim_id(name), policy.claim(name)) else {
            return Err(bad_input(format!("'{name}' is not a ClaimType of the policy")));
        };
        let Some(data_type) = ct.data_type else {
            return Err(bad_input(format!("ClaimType '{name}' has no known DataType")));
        };
        match ClaimValue::from_json(data_type, value) {
            Ok(v) => bag.set(id, v),
            Err(e) => return Err(bad_input(format!("claim '{name}': {e}"))),
        }
    }
    let fixed = environment(args).map_err(bad_input)?;
    let culture = args
        .lang
        .clone()
        .or_else(|| policy.localization.as_ref().and_then(|l| l.default_language.clone()))
        .unwrap_or_else(|| "en".to_owned());
    let compiled = ief_engine::CompiledPolicy::compile(policy);
    Ok(Prepared { loaded, index, compiled, bag, fixed, culture })
}

pub(crate) fn run(args: &RunArgs) -> Result<ExitCode, String> {
    let missing = format!("no ClaimsTransformation with Id '{}' in the policy", args.id);
    let prepared = match prepare(args, |p| p.transformation(&args.id).is_some(), &missing) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let Some((index, transform)) = prepared.transform(&args.id) else {
        return Ok(bad_input(format!("ClaimsTransformation '{}' does not compile", args.id)));
    };
    let mut bag = prepared.bag.clone();
    let policy = prepared.policy();
    match transform.run(&mut bag, &prepared.env(None)) {
        Ok(()) => {
            let mut out = Map::new();
            for o in &policy.transformations[index].outputs {
                if let Some(v) = policy.claim_id(&o.claim.value).and_then(|id| bag.get(id)) {
                    out.insert(o.claim.value.to_string(), v.to_json());
                }
            }
            outln!("{}", serde_json::to_string_pretty(&json!({ "output_claims": out })).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let error = json!({"error": {"code": e.code.as_str(), "message": e.message, "user_message_key": e.user_message_key}});
            outln!("{}", serde_json::to_string_pretty(&error).unwrap_or_default());
            Ok(ExitCode::from(1))
        }
    }
}

impl Prepared {
    /// The first declaration of `id` (as the model's lookups pick) and its compiled form.
    pub(crate) fn transform(&self, id: &str) -> Option<(usize, &CompiledTransform)> {
        let index = self.policy().transformations.iter().position(|t| t.id.value == id)?;
        Some((index, self.compiled.transforms.get(index)?.as_ref()?))
    }
}

/// Clock, randomness and keys for a command-line run; localized strings and expressions come
/// from the policy through `PolicyEnv`.
fn environment(args: &RunArgs) -> Result<FixedEnv, String> {
    let now = match &args.now {
        Some(text) => {
            ief_transforms::value::parse_date_time(text).ok_or_else(|| format!("--now '{text}' is not ISO 8601"))?
        }
        None => chrono::Utc::now().naive_utc(),
    };
    let mut env = FixedEnv { now, seed: args.seed, ..FixedEnv::default() };
    if let Some(dir) = &args.keys {
        // The executor's key convention: one file per StorageReferenceId; secrets are `.txt`.
        let store = ief_protocols::keys::KeyStore::load(dir).map_err(|e| format!("--keys: {e}"))?;
        for name in store.names() {
            if let Ok(secret) = store.secret(name) {
                env.keys.insert(name.to_owned(), secret.to_vec());
            }
        }
    }
    Ok(env)
}
