"""`paywire doctor`: is this paywire ready, and safe, to take money? The seed's 8 health
signals scored out of 8 (below 5: stop and fix), the security checklist, and the go-live
checklist by priority, each line pass, warn or fail with how to fix it (`diagnose`)."""
