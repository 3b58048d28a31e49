// Empty: see Cargo.toml. The dependency is fetched, never compiled.
