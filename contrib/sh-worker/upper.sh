#!/bin/sh
# A Disco worker in POSIX sh (worker protocol 1.1): a map-only job that writes the
# lines of its raw:// input upper-cased to one output file, label 0.
#
# Frames are "NAME LEN JSON\n": requests on stderr, replies on stdin.  Nothing is
# written to stdout (the node reads it as protocol data too).
set -u
LC_ALL=C; export LC_ALL          # byte lengths, byte-wise tr

send() {  # send NAME JSON
    printf '%s %d %s\n' "$1" "$(printf '%s' "$2" | wc -c)" "$2" >&2
}
recv() {  # read one reply into $rname / $rbody (the payload is one line of JSON)
    IFS=' ' read -r rname rlen rbody || exit 9   # end of input: the node stopped us
}
fail() {  # ERROR: the task fails and is retried; Disco sends no reply
    send ERROR "\"sh worker: $1\""
    recv
    exit 1
}

send WORKER "{\"version\":\"1.1\",\"pid\":$$}"
recv; [ "$rname" = OK ] || exit 10
send TASK '""'
recv; [ "$rname" = TASK ] || exit 11
taskid=$(printf '%s' "$rbody" | sed 's/.*"taskid": *\([0-9]*\).*/\1/')

# A "split" task has exactly one input, and its list is final ("done").
send INPUT '""'
recv; [ "$rname" = INPUT ] || exit 12
# The first replica URL: the second quoted string after the replica id, e.g.
# ["done",[[0,"ok",0,[[0,"raw://hello"],[1,"raw://hello"]]]]]
url=$(printf '%s' "$rbody" | sed -n 's/^[^[]*\[[^[]*\[\[[^[]*\[\[ *[0-9]* *, *"\([^"]*\)".*/\1/p')
case "$url" in
    raw://*) ;;
    *) fail "only raw:// inputs are supported, not '$url'" ;;
esac

out="upper-$taskid-$$"
# %b turns the JSON escapes \n, \t, \\ back into bytes (data must not contain '"').
printf '%b\n' "${url#raw://}" | tr '[:lower:]' '[:upper:]' > "$out" || fail "cannot write $out"
size=$(wc -c < "$out")
size=$((size + 0))

send MSG "\"upper-cased $size bytes\""
recv
send OUTPUT "[0,\"$out\",$size]"
recv; [ "$rname" = OK ] || fail "OUTPUT refused: $rname $rbody"
send DONE '""'
recv   # no reply comes: the node ends the process
