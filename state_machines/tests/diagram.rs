//! README.md is generated from the machines: this test fails when it drifts from the code.

use std::path::Path;

#[test]
fn readme_matches_the_machines() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let expected = state_machines::diagram::readme();
    if std::env::var("UPDATE_DIAGRAMS").as_deref() == Ok("1") {
        std::fs::write(&path, &expected).expect("write README.md");
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{} is out of date with the machines; regenerate it with\n\
         \n    UPDATE_DIAGRAMS=1 cargo test -p state_machines --test diagram\n",
        path.display()
    );
}
