//! The `ief` command: validate, merge, graph and explain policies; try claims transformations.

#[macro_use]
mod output;

mod bench;
mod idp;
mod policy;
mod report;
mod scenario;
mod serve;
mod transform;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "ief", version, about = "Run Azure AD B2C custom policies on your own machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check policies as B2C does at upload; all problems at once.
    Validate {
        #[command(flatten)]
        input: PolicyInput,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the effective policy of a relying party as one XML document.
    Merge {
        #[command(flatten)]
        input: PolicyInput,
    },
    /// Print a user journey's plan as DOT, Mermaid, JSON or SVG.
    Graph {
        #[command(flatten)]
        input: PolicyInput,
        /// The journey (default: the relying party's DefaultUserJourney).
        #[arg(long)]
        journey: Option<String>,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Print a readable plan of a user journey.
    Explain {
        #[command(flatten)]
        input: PolicyInput,
        #[arg(long)]
        journey: Option<String>,
    },
    /// List or run claims transformations.
    Transform {
        #[command(subcommand)]
        command: TransformCommand,
    },
    /// Run one sign-in headlessly from a scenario file.
    Run(Box<scenario::RunArgs>),
    /// Run every scenario under the given folders and compare with their snapshots.
    Test(scenario::TestArgs),
    /// Measure a transformation, a profile's output-claims chain or a scenario's sign-ins.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Serve the policies as a B2C-compatible identity provider that applications sign in to.
    Serve(Box<serve::ServeArgs>),
    /// Embedded test identity providers.
    Idp {
        #[command(subcommand)]
        command: idp::IdpCommand,
    },
    /// Manage policy keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create the keys the starter pack expects (never overwrites).
    Init {
        #[arg(default_value = "keys")]
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum TransformCommand {
    /// Every TransformationMethod with its signature.
    List,
    /// Run one ClaimsTransformation of a policy on the given input claims.
    Run(Box<transform::RunArgs>),
}

/// Policy files or folders, and how to fill `{Settings:...}` placeholders.
#[derive(Args, Debug, Clone)]
struct PolicyInput {
    /// Policy files or folders (searched for *.xml).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The appsettings.json environment whose PolicySettings fill {Settings:Name}.
    #[arg(long = "env")]
    environment: Option<String>,
    /// The settings file (default: appsettings.json beside the policies).
    #[arg(long)]
    settings: Option<PathBuf>,
    /// The relying-party PolicyId to use when several are loaded.
    #[arg(long)]
    policy: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum GraphFormat {
    Dot,
    Mermaid,
    Json,
    Svg,
}

/// A sign-in makes about 250 small allocations, and glibc's malloc and free were about half of
/// the executor's instructions; mimalloc serves them from per-thread heaps, so sign-ins on
/// several workers share no arena either (BENCHMARKS.md, issue #18 item 3).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { input, format } => policy::validate(&input, format),
        Command::Merge { input } => policy::merge(&input),
        Command::Graph { input, journey, format, output } => policy::graph(&input, journey.as_deref(), format, output),
        Command::Explain { input, journey } => policy::explain(&input, journey.as_deref()),
        Command::Transform { command: TransformCommand::List } => transform::list(),
        Command::Transform { command: TransformCommand::Run(args) } => transform::run(&args),
        Command::Run(args) => scenario::run(&args),
        Command::Test(args) => scenario::test(&args),
        Command::Keys { command: KeysCommand::Init { dir } } => scenario::keys_init(&dir),
        Command::Bench { command } => bench::run(&command),
        Command::Serve(args) => serve::run(&args),
        Command::Idp { command } => idp::run(&command),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            errln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
