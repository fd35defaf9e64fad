// What the core gained for IRC, through fake sessions (no socket): registering with exactly a
// nick, operators, kicks, notices, open rooms (-n).
import Testing
@testable import TCPChat

@Suite struct CoreForIRCTests {
    @Test func registerAsRefusesATakenOrBadNickAndLeavesTheSessionFree() {
        let harness = CoreHarness()
        _ = harness.session("ann")
        let output = RecordingOutput()
        let session = ForwardingSession(encoder: harness.json, slot: harness.jsonSlot, output: output)
        harness.core.handle(.registerAs(nick: "ANN"), from: session)
        #expect(!session.isRegistered)
        #expect(output.take() == [##"{"event":"error","error":"nickTaken(\"ann\")"}"##])
        harness.core.handle(.registerAs(nick: "bad nick"), from: session)
        #expect(!session.isRegistered)
        #expect(output.take().first?.contains("nickInvalid") == true)
        harness.core.handle(.registerAs(nick: "bob"), from: session)
        #expect(session.isRegistered && session.nick == "bob" && session.rooms.isEmpty)
        #expect(output.take() == [##"{"event":"welcome","nick":"bob"}"##])
        // the line protocol's register still falls back to a guest
        let (guest, _) = harness.session("bob")
        #expect(guest.nick.hasPrefix("guest"))
    }

    @Test func theMakerOfARoomRunsItAndMayKick() {
        let harness = CoreHarness()
        let (ann, annOut) = harness.session("ann", rooms: ["#new"])
        let (bob, bobOut) = harness.session("bob", rooms: ["#new"])
        let room = harness.core.rooms["#new"]!
        #expect(room.isOperator(ann) && !room.isOperator(bob))
        #expect(harness.core.rooms["#lobby"]!.operators.isEmpty)  // nobody made #lobby
        _ = annOut.take()
        harness.core.handle(.kick(room: "#new", nick: "ann", reason: "no"), from: bob)
        #expect(bobOut.take() == [##"{"event":"error","error":"notOperator(\"#new\")"}"##])
        harness.core.handle(.kick(room: "#new", nick: "bob", reason: "out"), from: ann)
        #expect(!bob.isMember(of: room) && ann.isMember(of: room))
    }

    @Test func aRoomWithoutNoExternalHearsOutsiders() {
        let harness = CoreHarness()
        let (_, annOut) = harness.session("ann", rooms: ["#open"])
        let (outsider, outsiderOut) = harness.session("zed", rooms: [])
        harness.core.handle(.say(room: "#open", text: "knock"), from: outsider)
        #expect(outsiderOut.take() == [##"{"event":"error","error":"notInRoom(\"#open\")"}"##])
        harness.core.rooms["#open"]!.modes.noExternal = false
        _ = annOut.take()
        harness.core.handle(.say(room: "#open", text: "knock"), from: outsider)
        #expect(annOut.take() == [##"{"event":"said","room":"#open","nick":"zed","text":"knock"}"##])
    }
}
