use super::*;

fn parse(text: &str) -> Result<MachineTypes, MachineTypesError> {
    MachineTypes::parse(text, Path::new("types.toml"), &KernelLocation::Local)
}

fn error(text: &str) -> String {
    parse(text).expect_err("a bad file").to_string()
}

const TWO: &str = r#"
[[machine_type]]
name = "small"
description = "1 CPU, 1 GiB"
cpus = 1
memory = "1Gi"
env = { EXTRA = "yes" }
max_concurrent = 2
kernels = ["python3"]

[[machine_type]]
name = "cpu-4"
description = "4 CPUs, 15 GB RAM"
env = { KERNEL_CPUS = "4", KERNEL_MEMORY = "15Gi" }
gateway_url = "http://127.0.0.1:8889"
default = true
"#;

#[test]
fn a_good_file_resolves_each_type() {
    let gateway = KernelLocation::Gateway(Gateway {
        url: "http://eg:1".into(),
        token: Some("t".into()),
        kernel_username: Some("alice".into()),
    });
    // `small` has cpus and would inherit the default gateway location: refused.
    let refused = MachineTypes::parse(TWO, Path::new("types.toml"), &gateway)
        .expect_err("cpus on a gateway")
        .to_string();
    assert!(
        refused.contains("\"small\" (entry 1): cpus and memory"),
        "{refused}"
    );

    let types = parse(TWO).expect("parsed");
    assert_eq!(types.names(), ["small", "cpu-4"]);
    let small = types.get("small").expect("small");
    assert_eq!(small.location, KernelLocation::Local);
    assert_eq!(
        small.limits,
        KernelLimits {
            cpus: Some(1),
            memory: Some(1 << 30)
        }
    );
    assert_eq!(small.max_concurrent, Some(2));
    assert!(small.allows_kernel("Python3") && !small.allows_kernel("ir"));
    assert!(!small.default);
    let big = types.default_type().expect("a default");
    assert_eq!(big.name, "cpu-4");
    assert_eq!(big.env["KERNEL_MEMORY"], "15Gi");
    assert_eq!(big.location.label(), "http://127.0.0.1:8889");
    assert!(big.allows_kernel("anything"));
}

#[test]
fn a_type_without_gateway_url_uses_the_default_location_unless_local() {
    let gateway = KernelLocation::Gateway(Gateway {
        url: "http://eg:1".into(),
        token: Some("t".into()),
        kernel_username: None,
    });
    let text = "[[machine_type]]\nname = \"a\"\n[[machine_type]]\nname = \"b\"\nlocal = true\ncpus = 1\n[[machine_type]]\nname = \"c\"\ngateway_url = \"https://other:2\"\n";
    let types = MachineTypes::parse(text, Path::new("t.toml"), &gateway).expect("parsed");
    assert_eq!(types.get("a").expect("a").location, gateway);
    assert_eq!(types.get("b").expect("b").location, KernelLocation::Local);
    let KernelLocation::Gateway(other) = &types.get("c").expect("c").location else {
        panic!("c is on a gateway");
    };
    assert_eq!(other.url, "https://other:2");
    assert_eq!(
        other.token.as_deref(),
        Some("t"),
        "the default gateway's token"
    );
    assert!(types.default_type().is_none());
}

#[test]
fn each_mistake_is_one_line_naming_the_file_the_entry_and_the_problem() {
    let cases: &[(&str, &str)] = &[
        (
            "[[machine_type]]\nname = \"a\"\n[[machine_type]]\nname = \"a\"\n",
            "types.toml: machine type \"a\" (entry 2): the name is already used",
        ),
        (
            "[[machine_type]]\nname = \"a\"\ndefault = true\n[[machine_type]]\nname = \"b\"\ndefault = true\n",
            "types.toml: machine type \"b\" (entry 2): default = true, but \"a\" is already the default",
        ),
        (
            "[[machine_type]]\nname = \"a\"\ncpu = 2\n",
            "types.toml: machine type \"a\" (entry 1): unknown field `cpu`",
        ),
        (
            "[[machine_type]]\nname = \"a\"\nmemory = \"15 Gigs\"\n",
            "types.toml: machine type \"a\" (entry 1): memory \"15 Gigs\": give bytes or a number",
        ),
        (
            "[[machine_type]]\ndescription = \"x\"\n",
            "types.toml: machine type entry 1: missing field `name`",
        ),
        (
            "[[machine_type]]\nname = \"a b\"\n",
            "types.toml: machine type \"a b\" (entry 1): name \"a b\": use 1 to 64 letters",
        ),
        (
            "[[machine_type]]\nname = \"a\"\ncpus = 0\n",
            "(entry 1): cpus = 0: give at least 1",
        ),
        (
            "[[machine_type]]\nname = \"a\"\nmax_concurrent = 0\n",
            "(entry 1): max_concurrent = 0",
        ),
        (
            "[[machine_type]]\nname = \"a\"\nkernels = []\n",
            "(entry 1): kernels = []",
        ),
        (
            "[[machine_type]]\nname = \"a\"\ngateway_url = \"eg:8888\"\n",
            "(entry 1): gateway_url \"eg:8888\": give an http:// or https:// URL",
        ),
        (
            "[[machine_type]]\nname = \"a\"\ngateway_url = \"http://eg\"\nlocal = true\n",
            "(entry 1): gateway_url and local = true",
        ),
        (
            "[[machine_type]]\nname = \"a\"\ngateway_url = \"http://eg\"\nmemory = \"1Gi\"\n",
            "(entry 1): cpus and memory limit local kernels, and this type's kernels start on the gateway http://eg",
        ),
        (
            "[[machine_type]]\nname = \"a\"\nenv = { KERNEL_CPUS = 4 }\n",
            "types.toml: machine type \"a\" (entry 1): invalid type: integer `4`, expected a string",
        ),
        (
            "[[machine_types]]\nname = \"a\"\n",
            "types.toml: unknown key \"machine_types\"",
        ),
        ("", "types.toml: no [[machine_type]] entries"),
        ("[[machine_type]\nname = 1", "types.toml: "),
    ];
    for (text, expected) in cases {
        let message = error(text);
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        assert!(!message.contains('\n'), "one line: {message:?}");
    }
    assert!(error("[[machine_type]\nname = 1").contains("(line 1)"));
}

#[test]
fn load_names_an_unreadable_file_and_checks_cpus_against_the_machine() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("nope.toml");
    let message = MachineTypes::load(&missing, &KernelLocation::Local)
        .expect_err("missing")
        .to_string();
    assert!(
        message.starts_with(&format!("{}: cannot read it:", missing.display())),
        "{message}"
    );
    let file = dir.path().join("big.toml");
    let too_many = allowed_cpus().len() + 1;
    std::fs::write(
        &file,
        format!("[[machine_type]]\nname = \"huge\"\ncpus = {too_many}\n"),
    )
    .expect("write");
    let message = MachineTypes::load(&file, &KernelLocation::Local)
        .expect_err("too many CPUs")
        .to_string();
    assert!(
        message.contains(&format!(
            "machine type \"huge\": cpus = {too_many}, but nbgate may use"
        )),
        "{message}"
    );
}

#[test]
fn applying_a_type_sets_its_env_limits_and_location() {
    let types = parse(TWO).expect("parsed");
    let mut launch = LaunchOptions::default();
    launch.env.insert("KEEP".into(), "1".into());
    let location = types.get("small").expect("small").apply(&mut launch);
    assert_eq!(location, KernelLocation::Local);
    assert_eq!(launch.env["EXTRA"], "yes");
    assert_eq!(launch.env["KEEP"], "1");
    assert_eq!(launch.limits.cpus, Some(1));
    let location = types.get("cpu-4").expect("cpu-4").apply(&mut launch);
    assert_eq!(location.label(), "http://127.0.0.1:8889");
    assert_eq!(launch.env["KERNEL_CPUS"], "4");
}
