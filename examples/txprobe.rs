fn main() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    for name in ["links", "payments", "audit", "outbox", "indexes", "subscriptions", "timers"] {
        let _ = db.open_tree(name);
    }
    let path = std::env::args().nth(1).unwrap();
    let db = sled::open(path).unwrap();
    for name in ["links", "payments", "audit", "outbox", "indexes", "subscriptions", "timers"] {
        let t = db.open_tree(name).unwrap();
        let n = t.len();
        let bytes: usize = t.iter().take(1000).map(|kv| { let (k, v) = kv.unwrap(); k.len() + v.len() }).sum();
        println!("{name}: {n} entries, ~{} bytes each", if n > 0 { bytes / n.min(1000) } else { 0 });
        if let Some(Ok((_, v))) = t.iter().next() { if name == "outbox" || name == "links" { println!("  {}", String::from_utf8_lossy(&v)); } }
    }
}
