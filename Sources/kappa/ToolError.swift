import ArgumentParser
import Foundation
import Hypercore
import HypercoreProtocol
import KappaCore

/// An error the tool reports in one line on standard error, with its exit code (sysexits.h).
struct ToolError: Error {
    static let usage: Int32 = 64
    static let dataError: Int32 = 65
    static let noInput: Int32 = 66
    static let unavailable: Int32 = 69
    static let cannotCreate: Int32 = 73
    static let ioError: Int32 = 74
    static let tempFail: Int32 = 75
    static let interrupted: Int32 = 130

    var code: Int32
    var message: String

    init(_ code: Int32, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// Runs a command's body: user errors become one line on standard error and an exit code, never a stack trace.
func runTool(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        let (code, message) = describe(error)
        Output.error("kappa: \(message)")
        throw ExitCode(code)
    }
}

/// The exit code and message for an error.
func describe(_ error: any Error) -> (Int32, String) {
    switch error {
    case let error as ToolError:
        return (error.code, error.message)
    case is CancellationError:
        return (ToolError.interrupted, "interrupted")
    case let error as KappaError:
        switch error.code {
        case .locked: return (ToolError.tempFail, "\(error.message) (is another kappa process using it?)")
        case .invalidKey, .invalidName, .invalidPath: return (ToolError.usage, error.message)
        case .damagedFeed, .feedUnavailable, .undecodableEntry, .encoding, .tooManyFeeds:
            return (ToolError.dataError, error.message)
        default: return (ToolError.ioError, error.description)
        }
    case let error as StorageError:
        return (error.code == .locked ? ToolError.tempFail : ToolError.ioError, error.description)
    case let error as HypercoreError:
        return (error.code == .corrupt ? ToolError.dataError : ToolError.ioError, error.description)
    case let error as ReplicationError:
        switch error.code {
        case .transport, .connectionClosed, .channelRejected, .timeout: return (ToolError.unavailable, error.description)
        default: return (ToolError.dataError, error.description)
        }
    default:
        return (ToolError.ioError, "\(error)")
    }
}
