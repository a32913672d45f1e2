#!/usr/bin/env bash
# test_bad_clients.sh: malformed and abusive clients (raw sockets, python3)
# get Redis's error or are closed alone; the node keeps serving everyone
# else, and every limit hit shows up in INFO. Ports 21200-21299.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 21200 21300 2) || { fail "no free ports in 21200-21299"; summary; }
G=$BASE C=$((BASE + 1))
RAW="python3 $(dirname "$0")/rawclient.py $C"

start_node victim "$G" "$C" --insecure --maxclients 200 --timeout 2 \
  --client-output-buffer-limit 4mb || fail "node starts"

# A well-behaved client first (the idle timeout closes it later on).
exec 7<>"/dev/tcp/127.0.0.1/$C"
printf 'PING\r\n' >&7
read -r -t 5 reply <&7
check "a steady client is served" [ "${reply%$'\r'}" = "+PONG" ]

for s in huge_bulk negative_bulk huge_multibulk non_numeric unbalanced long_line \
         byte_split half_request_then_close pipeline_100k; do
  check "bad client: $s" $RAW "$s"
done
check "parser limit errors are counted" [ "$(info_field "$C" clients client_parser_limit_errors)" -ge 3 ]
check "protocol errors are counted" [ "$(info_field "$C" clients client_protocol_errors)" -ge 4 ]
check "bad client: output_limit (client closed at 4mb)" $RAW output_limit
check "output buffer disconnects are counted" \
  [ "$(info_field "$C" clients client_output_buffer_disconnects)" -ge 1 ]
check "bad client: 1000 connections beyond maxclients" $RAW maxclients
check "rejected connections are counted" [ "$(info_field "$C" clients rejected_connections)" -ge 990 ]
check "bad client: idle_timeout" $RAW idle_timeout
check "idle timeouts are counted" [ "$(info_field "$C" clients client_idle_timeouts)" -ge 1 ]
check "the node still answers new clients" ping_ok "$C"
check "pipelined writes landed" [ "$(rcli "$C" GET p:99998)" = "v99998" ]
exec 7>&-

summary
