// The Lua scripts the cluster runs inside Redis. Each is one atomic step, so that two servers
// can never half-see each other's changes (two reapers of one dead server, a claim racing a
// heartbeat). They are loaded with SCRIPT LOAD on every (re)connect and run with EVALSHA.
//
// Keys (the keyspace of the configured database):
//   tcpchat:servers                 SET of live-or-not-yet-reaped server ids
//   tcpchat:alive:<id>              "1" with the TTL; gone = the server is dead
//   tcpchat:nick:<nick skeleton>    "<owning server id> TAB <nick>", with the TTL: cluster-wide
//                                   nick ownership by UTS #39 skeleton (Names.skeleton), so that
//                                   no two servers give out nicks that look alike, and a refusal
//                                   can name the nick held
//   tcpchat:rooms:<id>              HASH room key -> room name: rooms with people on that server
//   tcpchat:who:<id>:<room key>     SET of the nicks in that room on that server
//   tcpchat:history:<room key>      LIST of the room's last lines (capped; expires a week after
//                                   the room's last person left)
//   tcpchat:guests                  counter handing out blocks of guest numbers
//   tcpchat:account:<nick key>      HASH of one account (issue 20, RedisAccountStore): name,
//                                   key, skeleton, n, r, p (scrypt), salt, hash (hex), created
//   tcpchat:account-skeleton:<skel> the key of the account that owns every nick with this
//                                   skeleton; written with the account by one script
//   tcpchat:account-failures:<key>  HASH count, last (Unix ms) of wrong passwords, expiring an
//                                   hour after the last one (the guessing delay, cluster-wide)
// Membership is kept per server and per room so that /who reads one set per server, not every
// person of the cluster. Pub/sub channels are global to a Redis server, not per database, so
// they carry the database number: tcpchat:<db>:room:<room key> and tcpchat:<db>:server:<id>.

enum ClusterScript: CaseIterable {
    /// ARGV: id, ttl, then pairs of nick skeleton and nick. Marks the server alive, keeps its
    /// membership keys from expiring, and claims or refreshes each skeleton. Returns pairs of
    /// the skeletons another server owns and the nick it holds each for.
    case heartbeat
    /// ARGV: id, nick skeletons... Gives up skeletons this server owns.
    case release
    /// ARGV: id. Forgets the server's membership (before it registers it again from scratch).
    case reset
    /// ARGV: id. Returns [room key, nick, ...] of every server whose liveness key expired, and
    /// forgets them: only the first server to run it after a death announces the departures.
    case reap
    /// ARGV: room key. The nicks in that room on every live server.
    case who
    /// [room key, room name, count, ...] for every room with people on a live server (one entry
    /// per server and room; the caller adds them up).
    case rooms
    /// ARGV: id. A server leaving the cluster on purpose.
    case retire
    /// Accounts. ARGV: key, skeleton (either may be ""). The account with that key, else the
    /// one owning that skeleton, as HGETALL's flat list plus failures and last_failure; nil.
    case accountFind
    /// ARGV: key, skeleton, name, n, r, p, salt, hash, created. Creates the account and its
    /// skeleton index at once unless either is taken: {'created', key} or {'exists', key}.
    case accountCreate
    /// ARGV: key, now (Unix ms), ttl seconds. Counts a wrong password; returns the count.
    case accountFailed
    /// ARGV: key, n, r, p, salt, hash. A password rehashed at a raised cost (if the account
    /// still exists).
    case accountRehash
    /// ARGV: nick skeleton, id, ttl, channel prefix of server channels, payload, nick. Ghost across
    /// servers: when another server owns the nick, it becomes this server's and the payload
    /// (that server is to disconnect its session) is published to the old owner's channel, in
    /// one step. Returns 1 taken, 0 nobody (else) holds it.
    case accountTakeOver

    /// Lua shared by the scripts: the membership keys of one server.
    private static let membership = """
        local function forget(id)
          local rooms = 'tcpchat:rooms:' .. id
          for _, room in ipairs(redis.call('HKEYS', rooms)) do redis.call('DEL', 'tcpchat:who:' .. id .. ':' .. room) end
          redis.call('DEL', rooms)
        end

        """

    /// Lua shared by the scripts: the ids of the servers whose liveness key has not expired.
    private static let liveServers = """
        local function live_servers()
          local live = {}
          for _, id in ipairs(redis.call('SMEMBERS', 'tcpchat:servers')) do
            if redis.call('EXISTS', 'tcpchat:alive:' .. id) == 1 then live[#live + 1] = id end
          end
          return live
        end

        """

    var source: String {
        switch self {
        case .heartbeat:
            return """
            local id, ttl = ARGV[1], tonumber(ARGV[2])
            redis.call('SADD', 'tcpchat:servers', id)
            redis.call('SET', 'tcpchat:alive:' .. id, '1', 'EX', ttl)
            -- membership outlives the liveness key (a survivor reaps it), but not forever
            local rooms = 'tcpchat:rooms:' .. id
            redis.call('EXPIRE', rooms, ttl * 20)
            for _, room in ipairs(redis.call('HKEYS', rooms)) do
              redis.call('EXPIRE', 'tcpchat:who:' .. id .. ':' .. room, ttl * 20)
              redis.call('EXPIRE', 'tcpchat:history:' .. room, 604800)  -- kept a week after the room empties
            end
            local lost = {}
            for i = 3, #ARGV - 1, 2 do
              local key = 'tcpchat:nick:' .. ARGV[i]
              local held = redis.call('GET', key)
              local owner = held and string.match(held, '^[^\t]*')
              if not held or owner == id then redis.call('SET', key, id .. '\t' .. ARGV[i + 1], 'EX', ttl)
              else
                lost[#lost + 1] = ARGV[i]
                lost[#lost + 1] = string.sub(held, #owner + 2)
              end
            end
            return lost
            """
        case .release:
            return """
            for i = 2, #ARGV do
              local key = 'tcpchat:nick:' .. ARGV[i]
              local held = redis.call('GET', key)
              if held and string.match(held, '^[^\t]*') == ARGV[1] then redis.call('DEL', key) end
            end
            return 0
            """
        case .reset:
            return ClusterScript.membership + """
            forget(ARGV[1])
            return 0
            """
        case .reap:
            return ClusterScript.membership + """
            local gone = {}
            for _, id in ipairs(redis.call('SMEMBERS', 'tcpchat:servers')) do
              if id ~= ARGV[1] and redis.call('EXISTS', 'tcpchat:alive:' .. id) == 0 then
                for _, room in ipairs(redis.call('HKEYS', 'tcpchat:rooms:' .. id)) do
                  for _, nick in ipairs(redis.call('SMEMBERS', 'tcpchat:who:' .. id .. ':' .. room)) do
                    gone[#gone + 1] = room
                    gone[#gone + 1] = nick
                  end
                end
                forget(id)
                redis.call('SREM', 'tcpchat:servers', id)
              end
            end
            return gone
            """
        case .who:
            return ClusterScript.liveServers + """
            local nicks = {}
            for _, id in ipairs(live_servers()) do
              for _, nick in ipairs(redis.call('SMEMBERS', 'tcpchat:who:' .. id .. ':' .. ARGV[1])) do nicks[#nicks + 1] = nick end
            end
            return nicks
            """
        case .rooms:
            return ClusterScript.liveServers + """
            local rooms = {}
            for _, id in ipairs(live_servers()) do
              local here = redis.call('HGETALL', 'tcpchat:rooms:' .. id)
              for i = 1, #here, 2 do
                local count = redis.call('SCARD', 'tcpchat:who:' .. id .. ':' .. here[i])
                if count > 0 then
                  rooms[#rooms + 1] = here[i]
                  rooms[#rooms + 1] = here[i + 1]
                  rooms[#rooms + 1] = tostring(count)
                end
              end
            end
            return rooms
            """
        case .retire:
            return ClusterScript.membership + """
            forget(ARGV[1])
            redis.call('DEL', 'tcpchat:alive:' .. ARGV[1])
            redis.call('SREM', 'tcpchat:servers', ARGV[1])
            return 0
            """
        case .accountFind:
            return """
            local key, fields = ARGV[1], {}
            if key ~= '' then fields = redis.call('HGETALL', 'tcpchat:account:' .. key) end
            if #fields == 0 and ARGV[2] ~= '' then
              key = redis.call('GET', 'tcpchat:account-skeleton:' .. ARGV[2])
              if not key then return false end
              fields = redis.call('HGETALL', 'tcpchat:account:' .. key)
            end
            if #fields == 0 then return false end
            local failures = redis.call('HMGET', 'tcpchat:account-failures:' .. key, 'count', 'last')
            fields[#fields + 1] = 'failures'
            fields[#fields + 1] = failures[1] or '0'
            fields[#fields + 1] = 'last_failure'
            fields[#fields + 1] = failures[2] or '0'
            return fields
            """
        case .accountCreate:
            return """
            local account = 'tcpchat:account:' .. ARGV[1]
            local skeleton = 'tcpchat:account-skeleton:' .. ARGV[2]
            if redis.call('EXISTS', account) == 1 then return {'exists', ARGV[1]} end
            local owner = redis.call('GET', skeleton)
            if owner then return {'exists', owner} end
            redis.call('HSET', account, 'name', ARGV[3], 'key', ARGV[1], 'skeleton', ARGV[2], 'n', ARGV[4],
                       'r', ARGV[5], 'p', ARGV[6], 'salt', ARGV[7], 'hash', ARGV[8], 'created', ARGV[9])
            redis.call('SET', skeleton, ARGV[1])
            return {'created', ARGV[1]}
            """
        case .accountFailed:
            return """
            local failures = 'tcpchat:account-failures:' .. ARGV[1]
            local count = redis.call('HINCRBY', failures, 'count', 1)
            redis.call('HSET', failures, 'last', ARGV[2])
            redis.call('EXPIRE', failures, tonumber(ARGV[3]))
            return count
            """
        case .accountTakeOver:
            return """
            local key = 'tcpchat:nick:' .. ARGV[1]
            local held = redis.call('GET', key)
            local owner = held and string.match(held, '^[^\t]*')
            if not held or owner == ARGV[2] then return 0 end
            redis.call('SET', key, ARGV[2] .. '\t' .. ARGV[6], 'EX', tonumber(ARGV[3]))
            redis.call('PUBLISH', ARGV[4] .. owner, ARGV[5])
            return 1
            """
        case .accountRehash:
            return """
            local account = 'tcpchat:account:' .. ARGV[1]
            if redis.call('EXISTS', account) == 0 then return 0 end
            redis.call('HSET', account, 'n', ARGV[2], 'r', ARGV[3], 'p', ARGV[4], 'salt', ARGV[5], 'hash', ARGV[6])
            return 1
            """
        }
    }
}
