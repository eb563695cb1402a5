//! A WASI command component (`wasi:cli/run`), not a Solomon plugin.
fn main() {
    println!("hello from the wrong world");
}
