// Accounts for IRC's SASL PLAIN (branch acct-irc; docs/PROTOCOL.md, "IRC: SASL"): a password
// checked before the session is registered (it has no nick yet), with the same limits as
// /identify (plaintext refusal, per-address and per-account waits), its refusals handed to
// the codec (which answers 904) rather than sent as error events; and, once the session is
// registered, the account it logged in to.
//
// Loop thread only.

extension AccountService {
    /// Checks `password` against the account `name` for `session`, which need not be
    /// registered. Exactly one of `failed` (the problem: wrong password, too many attempts,
    /// plaintext, the store down...) and `succeeded` runs, on the loop thread, now or later;
    /// neither once `isOpen` says the session went away.
    package func authenticate(_ session: ChatSession, account name: String, password: String,
                              isOpen: @escaping () -> Bool,
                              failed: @escaping (AccountProblem) -> Void,
                              succeeded: @escaping (AccountRecord) -> Void) {
        let id = ObjectIdentifier(session)
        interceptedFailures[id] = { problem in if isOpen() { failed(problem) } }
        guard mayTakePassword(from: session) else { return }  // the intercept answered
        check(password, of: name, for: session, alive: { _ in isOpen() }) { [weak self] record in
            self?.interceptedFailures.removeValue(forKey: id)
            succeeded(record)
        }
        // A session that closed meanwhile: check's completion does not call back, so the
        // intercept would stay; it goes when the answer comes (or in sessionLeft).
    }

    /// A SASL exchange ended without an answer (aborted, or the session closed).
    package func authenticationAbandoned(_ session: ChatSession) {
        interceptedFailures.removeValue(forKey: ObjectIdentifier(session))
    }

    /// `session` registered after logging in to `record` with SASL: it is identified to it
    /// (its nick is the account's, or changes to one with the account's skeleton, while it
    /// keeps it; another nick drops it, as for /identify). Tells the host (`identified`).
    package func loggedIn(_ session: ChatSession, _ record: AccountRecord) {
        update(session) {
            $0.cancelGrace?()
            $0.cancelGrace = nil
            $0.account = record.key
            $0.accountSkeleton = record.skeleton
        }
        core.emit(.identified, session, text: record.name, reason: "sasl")
    }
}

extension ChatCore {
    /// The session's next lines wait (its connection stops reading) until `releaseInput`:
    /// a SASL answer is on its way, and CAP END must not overtake it.
    package func holdInput(of session: ChatSession) {
        session.waitingForCluster = true
    }

    package func releaseInput(of session: ChatSession) {
        guard session.waitingForCluster else { return }
        session.waitingForCluster = false
        session.output.resumeInput()
    }
}
