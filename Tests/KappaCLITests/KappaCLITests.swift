import Foundation
import Testing
import KappaTesting

/// The built `kappa` binary, run as a user runs it: exit codes, output, and two processes syncing over TCP.
@Suite(.serialized, .timeLimit(.minutes(5))) struct KappaCLITests {
    static let kappa = ChildProcess.sibling(named: "kappa")

    @discardableResult
    static func run(_ arguments: [String], in dir: URL, input: String? = nil) throws -> (status: Int32, output: String) {
        try ChildProcess.run(kappa, arguments: arguments, in: dir, input: input.map { Data($0.utf8) })
    }

    /// Runs and expects exit 0; returns the output.
    static func ok(_ arguments: [String], in dir: URL, input: String? = nil) throws -> String {
        let result = try run(arguments, in: dir, input: input)
        #expect(result.status == 0, "kappa \(arguments.joined(separator: " ")) exited \(result.status): \(result.output)")
        return result.output
    }

    static func json(_ text: String) throws -> [String: Any] {
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("{") })
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func initAppendTenThousandLinesCatThemBackAndInfo() async throws {
        try await withTemporaryDirectory { dir in
            let created = try Self.ok(["init", "db", "--json"], in: dir)
            let sharedKey = try #require(try Self.json(created)["sharedKey"] as? String)
            #expect(sharedKey.count == 64)

            let lines = (1...10_000).map { "{\"n\": \($0)}" }.joined(separator: "\n") + "\n"
            let appended = try Self.ok(["append", "db", "--writer", "w"], in: dir, input: lines)
            #expect(appended.contains("appended 10000 entries to w"))
            _ = try Self.ok(["append", "db", "--writer", "w", "42"], in: dir)

            let cat = try Self.ok(["cat", "db"], in: dir).split(separator: "\n")
            #expect(cat.count == 10_001)
            #expect(cat.first?.hasSuffix(" 0 {\"n\": 1}") == true)
            #expect(cat.last?.hasSuffix(" 10000 42") == true)
            let from = try Self.ok(["cat", "db", "--writer", "w", "--from", "9999", "--json"], in: dir).split(separator: "\n")
            #expect(from.count == 2)
            let first = try Self.json(String(from[0]))
            #expect(first["seq"] as? Int == 9_999 && (first["value"] as? [String: Int])?["n"] == 10_000)

            let info = try Self.json(try Self.ok(["info", "db", "--json"], in: dir))
            #expect(info["sharedKey"] as? String == sharedKey)
            let feeds = try #require(info["feeds"] as? [[String: Any]])
            #expect(feeds.count == 1)
            #expect(feeds.first?["writer"] as? String == "w" && feeds.first?["length"] as? Int == 10_001)
            #expect(feeds.first?["writable"] as? Bool == true)
        }
    }

    @Test func textAndBinaryValuesRoundTrip() async throws {
        try await withTemporaryDirectory { dir in
            _ = try Self.ok(["init", "db"], in: dir)
            _ = try Self.ok(["append", "db", "--writer", "t", "--utf8"], in: dir, input: "hello world\n\nsecond line\n")
            _ = try Self.ok(["append", "db", "--writer", "b", "--binary", "00ff10"], in: dir)
            let text = try Self.ok(["cat", "db", "--writer", "t", "--utf8"], in: dir).split(separator: "\n", omittingEmptySubsequences: false)
            #expect(text.map { $0.split(separator: " ", maxSplits: 2).dropFirst(2).first.map(String.init) ?? "" }.prefix(3)
                    == ["hello world", "", "second line"])
            let binary = try Self.ok(["cat", "db", "--writer", "b", "--binary", "--json"], in: dir)
            #expect(try Self.json(binary)["value"] as? String == "00ff10")
        }
    }

    @Test func errorsHaveTheirExitCodesAndOneLineOnStandardError() async throws {
        try await withTemporaryDirectory { dir in
            let missing = try Self.run(["info", "nowhere"], in: dir)
            #expect(missing.status == 66 && missing.output.contains("no database at nowhere"))
            #expect(!missing.output.contains("Fatal") && !missing.output.contains("Stack"))
            _ = try Self.ok(["init", "db"], in: dir)
            #expect(try Self.run(["init", "db"], in: dir).status == 73)
            #expect(try Self.run(["append", "db"], in: dir).status == 64)  // no --writer
            #expect(try Self.run(["init", "other", "--shared-key", "xyz"], in: dir).status == 64)
            // A bad line stops the append; the lines before it are kept and counted.
            let bad = try Self.run(["append", "db", "--writer", "w"], in: dir, input: "1\n2\nnot json\n4\n")
            #expect(bad.status == 65)
            #expect(bad.output.contains("line 3 is not a JSON value") && bad.output.contains("2 entries appended before it"))
            #expect(try Self.ok(["cat", "db"], in: dir).split(separator: "\n").count == 2)
            #expect(try Self.run(["cat", "db", "--feed", "00"], in: dir).status == 64)
        }
    }

    @Test func verifyPassesOnACleanDatabaseAndNamesTheCorruptBlockOfACopy() async throws {
        try await withTemporaryDirectory { dir in
            _ = try Self.ok(["init", "db"], in: dir)
            let lines = (0..<500).map { "\"entry \($0)\"" }.joined(separator: "\n")
            _ = try Self.ok(["append", "db", "--writer", "w"], in: dir, input: lines)
            #expect(try Self.ok(["verify", "db"], in: dir).contains("ok: 1 feeds, 500 blocks verified"))

            try FileManager.default.copyItem(at: dir.appendingPathComponent("db"), to: dir.appendingPathComponent("copy"))
            let info = try Self.json(try Self.ok(["info", "copy", "--json"], in: dir))
            let path = try #require((info["feeds"] as? [[String: Any]])?.first?["location"] as? String)
            let location = path.hasPrefix("/") ? path : dir.appendingPathComponent(path).path
            // Entry 123 is `"entry 123"` (11 bytes); the ones before it are 9, 10 and 11 bytes long.
            let offset = 10 * 9 + 90 * 10 + 23 * 11 + 3
            var data = try Data(contentsOf: URL(fileURLWithPath: location).appendingPathComponent("data"))
            data[offset] ^= 0x01
            try data.write(to: URL(fileURLWithPath: location).appendingPathComponent("data"))
            let corrupt = try Self.run(["verify", "copy"], in: dir)
            #expect(corrupt.status == 65)
            #expect(corrupt.output.contains("block 123") && corrupt.output.contains("/data"))
            #expect(try Self.run(["verify", "db"], in: dir).status == 0)
        }
    }

    @Test func twoProcessesSyncOverTCPAndCatShowsEveryEntryOnTheOtherSide() async throws {
        try await withTemporaryDirectory { dir in
            let created = try Self.json(try Self.ok(["init", "server", "--json"], in: dir))
            let sharedKey = try #require(created["sharedKey"] as? String)
            _ = try Self.ok(["init", "client", "--shared-key", sharedKey], in: dir)
            let serverLines = (0..<2_000).map(String.init).joined(separator: "\n")
            _ = try Self.ok(["append", "server", "--writer", "s"], in: dir, input: serverLines)
            _ = try Self.ok(["append", "server", "--writer", "s2"], in: dir, input: serverLines)
            _ = try Self.ok(["append", "client", "--writer", "c", "\"from the client\""], in: dir)
            _ = try Self.ok(["init", "terminal", "--shared-key", sharedKey], in: dir)

            let server = try ChildProcess.start(Self.kappa, arguments: ["serve", "server", "--port", "0"], in: dir)
            let listening = try server.waitForLine(containing: "listening on ")
            let address = try #require(listening.split(separator: " ").last.map(String.init))

            // Piped (not a terminal): plain lines and a summary, no carriage returns.
            let sync = try Self.ok(["sync", "client", address], in: dir)
            #expect(sync.contains("synced with") && sync.contains("4000 entries received") && sync.contains("1 sent"))
            #expect(sync.contains("3/3 feeds · 4001/4001 entries (100%)"))
            #expect(!sync.contains("\r"))
            let cat = try Self.ok(["cat", "client"], in: dir).split(separator: "\n")
            #expect(cat.count == 4_001)
            #expect(Set(cat.map { $0.split(separator: " ")[2] }).isSuperset(of: ["0", "1999", "\"from"]))

            // Under a pseudo-terminal: the progress line is redrawn in place.
            #if os(Linux)
            // util-linux: script -q -e -c COMMAND FILE
            let scriptArguments = ["-qec", "\(Self.kappa) sync terminal \(address)", "/dev/null"]
            #else
            // BSD: script -q FILE COMMAND...
            let scriptArguments = ["-q", "/dev/null", Self.kappa, "sync", "terminal", address]
            #endif
            let terminal = try ChildProcess.run("/usr/bin/script", arguments: scriptArguments, in: dir)
            #expect(terminal.status == 0, "\(terminal.output)")
            #expect(terminal.output.contains("\r\u{1B}[K") && terminal.output.contains("4001/4001 entries (100%)"))
            #expect(terminal.output.contains("4001 entries received"))

            // Interrupting the server ends it cleanly; the client's database has both writers' entries.
            let stopped = server.stop()
            #expect(stopped.status == 0, "\(stopped.output)")
            #expect(stopped.output.contains("session ended"))
            let info = try Self.json(try Self.ok(["info", "client", "--json"], in: dir))
            #expect((info["feeds"] as? [[String: Any]])?.count == 3)
            #expect(try Self.run(["sync", "client", address], in: dir).status == 69)  // nobody listens now
        }
    }

    @Test func catFollowsEntriesArrivingFromALivePeerAndALiveSyncEndsCleanlyOnInterrupt() async throws {
        try await withTemporaryDirectory { dir in
            let created = try Self.json(try Self.ok(["init", "server", "--json"], in: dir))
            let sharedKey = try #require(created["sharedKey"] as? String)
            _ = try Self.ok(["init", "follower", "--shared-key", sharedKey], in: dir)
            _ = try Self.ok(["init", "mirror", "--shared-key", sharedKey], in: dir)
            _ = try Self.ok(["append", "server", "--writer", "s"], in: dir,
                            input: (0..<300).map { "\"line \($0)\"" }.joined(separator: "\n"))
            let server = try ChildProcess.start(Self.kappa, arguments: ["serve", "server", "--port", "0"], in: dir)
            let address = try #require(try server.waitForLine(containing: "listening on ").split(separator: " ").last.map(String.init))

            // cat --follow --peer prints the entries as the live session brings them, until interrupted.
            let follow = try ChildProcess.start(Self.kappa, arguments: ["cat", "follower", "--follow", "--peer", address], in: dir)
            let last = try follow.waitForLine(containing: " 299 \"line 299\"")
            #expect(last.hasSuffix("299 \"line 299\""))
            let followed = follow.stop()
            #expect(followed.status == 0, "\(followed.output)")
            #expect(followed.output.split(separator: "\n").filter { $0.contains("\"line ") }.count == 300)

            // A live sync runs until interrupted, then prints its summary and exits 0; the database is sound.
            let live = try ChildProcess.start(Self.kappa, arguments: ["sync", "mirror", address, "--live"], in: dir)
            _ = try live.waitForLine(containing: "1/1 feeds · 300/300 entries (100%)")
            let stopped = live.stop()
            #expect(stopped.status == 0, "\(stopped.output)")
            #expect(stopped.output.contains("synced with") && stopped.output.contains("300 entries received"))
            #expect(try Self.ok(["verify", "mirror"], in: dir).contains("ok: 1 feeds, 300 blocks verified"))
            #expect(server.stop().status == 0)
        }
    }

    @Test func kvGetsTheHeadsOfAKeyFromJSONFields() async throws {
        try await withTemporaryDirectory { dir in
            _ = try Self.ok(["init", "db"], in: dir)
            let lines = [
                #"{"id": "p1", "title": "hello", "body": "first"}"#,
                #"{"id": "p2", "title": "hello", "body": "second", "replaces": ["p1"]}"#,
                #"{"id": "p3", "title": "hello", "body": "concurrent", "replaces": "p1"}"#,
                #"{"id": "p4", "title": 42, "body": "a number key"}"#,
                #"{"body": "no title: sets nothing"}"#,
                #"{"id": "p5", "title": ["not", "a", "key"]}"#,
            ].joined(separator: "\n")
            _ = try Self.ok(["append", "db", "--writer", "w"], in: dir, input: lines)
            let options = ["--key", "title", "--links", "replaces", "--id", "id"]
            let output = try Self.ok(["kv", "db", "get", "hello"] + options, in: dir)
            #expect(output.contains("entry 5: its record: ") && output.contains("title is not a string or number"))
            let heads = output.split(separator: "\n").filter { !$0.hasPrefix("kappa:") }
            #expect(heads.count == 2)
            #expect(heads.contains { $0.hasSuffix(#" 1 {"id": "p2", "title": "hello", "body": "second", "replaces": ["p1"]}"#) })
            #expect(heads.contains { $0.contains(#""body": "concurrent""#) })
            let json = try Self.ok(["kv", "db", "get", "42", "--json"] + options, in: dir)
            #expect(try Self.json(json)["id"] as? String == "p4")
            #expect(try Self.ok(["kv", "db", "keys"] + options, in: dir) == "42\nhello\n")
            #expect(try Self.run(["kv", "db", "get"] + options, in: dir).status == 64)
        }
    }
}
