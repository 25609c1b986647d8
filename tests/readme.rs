//! The README's library example is `examples/forward.rs`, which CI builds and runs: the copy
//! in the README must be that file, word for word.

#[test]
fn readme_library_example_is_examples_forward_rs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let example = std::fs::read_to_string(format!("{root}/examples/forward.rs")).unwrap();
    let marker = "<!-- examples/forward.rs -->\n```rust\n";
    let start =
        readme.find(marker).expect("README marks its copy of examples/forward.rs") + marker.len();
    let end = start + readme[start..].find("```\n").expect("the code block ends");
    assert_eq!(&readme[start..end], example, "README's copy differs from examples/forward.rs");
}
