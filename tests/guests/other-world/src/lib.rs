//! other-world: a valid component that implements some other world, to check that the runtime
//! rejects it with exit 6 instead of trapping.

wit_bindgen::generate!({
    inline: "
        package test:other;
        world other {
            export greet: func(name: string) -> string;
        }
    ",
});

struct Other;

impl Guest for Other {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Other);
