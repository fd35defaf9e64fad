// The Lua scripts the cluster runs inside Redis. Each is one atomic step, so that two servers
// can never half-see each other's changes (two reapers of one dead server, a claim racing a
// heartbeat). They are loaded with SCRIPT LOAD on every (re)connect and run with EVALSHA.
//
// Keys (the keyspace of the configured database):
//   tcpchat:servers            SET of live-or-not-yet-reaped server ids
//   tcpchat:alive:<id>         "1" with the TTL; gone = the server is dead
//   tcpchat:nick:<nick key>    owning server id, with the TTL (cluster-wide nick ownership)
//   tcpchat:who:<id>           HASH nick -> "<room key>\t<room name>": the server's people
//   tcpchat:history:<room key> LIST of the room's last lines (capped; expires after a quiet week)
//   tcpchat:guests             counter handing out blocks of guest numbers
// Pub/sub channels are global to a Redis server, not per database, so they carry the database
// number: tcpchat:<db>:room:<room key> and tcpchat:<db>:server:<id>.

enum ClusterScript: CaseIterable {
    /// ARGV: id, ttl, nick keys... Marks the server alive and claims or refreshes each nick.
    /// Returns the nick keys another server owns (lost while this one was cut off).
    case heartbeat
    /// ARGV: id, nick keys... Gives up nicks this server owns.
    case release
    /// ARGV: id. Returns [room key, nick, ...] of every server whose liveness key expired, and
    /// forgets them: only the first server to run it after a death announces the departures.
    case reap
    /// ARGV: room key. The nicks in that room on every live server.
    case who
    /// The "<room key>\t<room name>" of every person on every live server (counted by the caller).
    case rooms
    /// ARGV: channel, payload, history key, line, history length. Publishes a chat line once and
    /// appends it to the room's capped history.
    case say
    /// ARGV: id. A server leaving the cluster on purpose.
    case retire

    var source: String {
        switch self {
        case .heartbeat:
            return """
            local id, ttl = ARGV[1], tonumber(ARGV[2])
            redis.call('SADD', 'tcpchat:servers', id)
            redis.call('SET', 'tcpchat:alive:' .. id, '1', 'EX', ttl)
            redis.call('EXPIRE', 'tcpchat:who:' .. id, ttl * 20)
            local lost = {}
            for i = 3, #ARGV do
              local key = 'tcpchat:nick:' .. ARGV[i]
              local owner = redis.call('GET', key)
              if owner == id then redis.call('EXPIRE', key, ttl)
              elseif not owner then redis.call('SET', key, id, 'EX', ttl)
              else lost[#lost + 1] = ARGV[i] end
            end
            return lost
            """
        case .release:
            return """
            for i = 2, #ARGV do
              local key = 'tcpchat:nick:' .. ARGV[i]
              if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
            end
            return 0
            """
        case .reap:
            return """
            local gone = {}
            for _, id in ipairs(redis.call('SMEMBERS', 'tcpchat:servers')) do
              if id ~= ARGV[1] and redis.call('EXISTS', 'tcpchat:alive:' .. id) == 0 then
                local who = redis.call('HGETALL', 'tcpchat:who:' .. id)
                for i = 1, #who, 2 do
                  local tab = string.find(who[i + 1], '\\t', 1, true) or (#who[i + 1] + 1)
                  gone[#gone + 1] = string.sub(who[i + 1], 1, tab - 1)
                  gone[#gone + 1] = who[i]
                end
                redis.call('DEL', 'tcpchat:who:' .. id)
                redis.call('SREM', 'tcpchat:servers', id)
              end
            end
            return gone
            """
        case .who:
            return """
            local prefix, nicks = ARGV[1] .. '\\t', {}
            for _, id in ipairs(redis.call('SMEMBERS', 'tcpchat:servers')) do
              if redis.call('EXISTS', 'tcpchat:alive:' .. id) == 1 then
                local who = redis.call('HGETALL', 'tcpchat:who:' .. id)
                for i = 1, #who, 2 do
                  if string.sub(who[i + 1], 1, #prefix) == prefix then nicks[#nicks + 1] = who[i] end
                end
              end
            end
            return nicks
            """
        case .rooms:
            return """
            local rooms = {}
            for _, id in ipairs(redis.call('SMEMBERS', 'tcpchat:servers')) do
              if redis.call('EXISTS', 'tcpchat:alive:' .. id) == 1 then
                for _, room in ipairs(redis.call('HVALS', 'tcpchat:who:' .. id)) do rooms[#rooms + 1] = room end
              end
            end
            return rooms
            """
        case .say:
            return """
            redis.call('PUBLISH', ARGV[1], ARGV[2])
            local length = tonumber(ARGV[5])
            if length > 0 then
              redis.call('RPUSH', ARGV[3], ARGV[4])
              redis.call('LTRIM', ARGV[3], -length, -1)
              redis.call('EXPIRE', ARGV[3], 604800)
            end
            return 0
            """
        case .retire:
            return """
            redis.call('DEL', 'tcpchat:who:' .. ARGV[1], 'tcpchat:alive:' .. ARGV[1])
            redis.call('SREM', 'tcpchat:servers', ARGV[1])
            return 0
            """
        }
    }
}
