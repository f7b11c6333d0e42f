# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The backend receives exactly the bytes the client sent, in every case.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest ();
use Apache::TestUtil;
use IO::Socket::INET ();
use lib 't/lib';
use KVCache::Test;

plan tests => 28;

# Sends $body with chunked Transfer-Encoding over a raw socket, in chunks of
# $chunk bytes; returns (status, headers-and-body text).
sub post_chunked {
    my ($path, $body, $chunk) = @_;
    my $hostport = Apache::TestRequest::hostport();
    my $sock = IO::Socket::INET->new(PeerAddr => $hostport, Timeout => 30)
        or die "connect $hostport: $!";
    print $sock "POST $path HTTP/1.1\r\nHost: $hostport\r\n"
              . "Content-Type: application/json\r\n"
              . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    for (my $off = 0; $off < length $body; $off += $chunk) {
        my $piece = substr $body, $off, $chunk;
        printf $sock "%x\r\n%s\r\n", length $piece, $piece;
    }
    print $sock "0\r\n\r\n";
    local $/;
    my $reply = <$sock>;
    close $sock;
    my ($status) = $reply =~ m{^HTTP/1\.\d (\d+)};
    return ($status // 0, $reply);
}

sub header_of {
    my ($reply, $name) = @_;
    my ($head) = split /\r\n\r\n/, $reply, 2;
    return $head =~ /^\Q$name\E:\s*(\S+)/mi ? $1 : '';
}

emu_reset();

# Small, routed.
my $small = chat_body(content => unique_words(20));
my $res = post_llm('/v1/chat/completions', $small);
ok t_cmp($res->code, 200, 'small: served');
ok t_cmp(body_hash_of($res), sha256_hex($small), 'small: identical bytes');
ok t_cmp(decision_of($res) =~ /^(routed|fallback:lookup-empty)$/ ? 1 : 0, 1,
         'small: processed by the module');

# 1 MB prompt (tokenized in full), spooled by mod_proxy by default, or
# streamed chunked with proxy-sendchunked.
my $big = chat_body(content => 'x' x 20 . ' ' . unique_words(100_000));
ok t_cmp(length($big) > 1_000_000, 1, 'big body is over 1 MB');
for my $path ('/v1/chat/completions', '/chunked/v1/chat/completions') {
    $res = post_llm($path, $big);
    ok t_cmp($res->code, 200, "1 MB via $path: served");
    ok t_cmp(body_hash_of($res), sha256_hex($big),
             "1 MB via $path: identical bytes");
    # Tokenizing 100k words may exceed the 200ms budget: any decision will
    # do, as long as the module looked at the request.
    ok t_cmp(decision_of($res) ne '' ? 1 : 0, 1,
             "1 MB via $path: processed (" . decision_of($res) . ")");
}

# Chunked upload, whole body buffered and routed.
my $chunked = chat_body(content => unique_words(400));
my ($status, $reply) = post_chunked('/v1/chat/completions', $chunked, 777);
ok t_cmp($status, 200, 'chunked: served');
ok t_cmp(header_of($reply, 'X-Kvemu-Body-Sha256'), sha256_hex($chunked),
         'chunked: identical bytes');
ok t_cmp(header_of($reply, 'X-KVCache-Decision') =~
         /^(routed|fallback:lookup-empty)$/ ? 1 : 0, 1,
         'chunked: processed by the module');

# Over the cap (1K here), chunked and with Content-Length: the buffered part
# and the rest both reach the backend, unrouted.
my $over = chat_body(content => unique_words(2000));
($status, $reply) = post_chunked('/cap/v1/chat/completions', $over, 100);
ok t_cmp($status, 200, 'chunked over cap: served');
ok t_cmp(header_of($reply, 'X-Kvemu-Body-Sha256'), sha256_hex($over),
         'chunked over cap: identical bytes');
ok t_cmp(header_of($reply, 'X-KVCache-Decision'), 'fallback:body-too-large',
         'chunked over cap: not routed');
$res = post_llm('/cap/v1/chat/completions', $over);
ok t_cmp($res->code, 200, 'over cap: served');
ok t_cmp(body_hash_of($res), sha256_hex($over), 'over cap: identical bytes');
ok t_cmp(decision_of($res), 'fallback:body-too-large', 'over cap: not routed');

# Exactly at the cap is still complete (and routed or empty).
my $pad = 1024 - length(chat_body(content => ''));
my $exact = chat_body(content => 'y' x $pad);
ok t_cmp(length $exact, 1024, 'body of exactly 1K');
$res = post_llm('/cap/v1/chat/completions', $exact);
ok t_cmp(body_hash_of($res), sha256_hex($exact), 'at cap: identical bytes');
ok t_cmp(decision_of($res) ne 'fallback:body-too-large' ? 1 : 0, 1,
         'at cap: buffered whole (' . decision_of($res) . ')');

# Invalid JSON, with Content-Length and chunked.
my $invalid = '{"model": "m", "messages": [{"role": "user", "content": "x"}';
$res = post_llm('/v1/chat/completions', $invalid);
ok t_cmp(body_hash_of($res), sha256_hex($invalid),
         'invalid JSON: identical bytes');
ok t_cmp(decision_of($res), 'fallback:invalid-json', 'invalid JSON: reason');
($status, $reply) = post_chunked('/v1/chat/completions', $invalid, 7);
ok t_cmp(header_of($reply, 'X-Kvemu-Body-Sha256'), sha256_hex($invalid),
         'invalid JSON chunked: identical bytes');

# Binary junk with a JSON content type.
my $junk = join '', map { chr(($_ * 37) % 256) } 0 .. 4095;
$res = post_llm('/v1/completions', $junk);
ok t_cmp(body_hash_of($res), sha256_hex($junk), 'binary junk: identical');

# A non-JSON content type is not even buffered.
$res = Apache::TestRequest::POST('/v1/completions',
    'Content-Type' => 'text/plain', content => 'plain text');
ok t_cmp(body_hash_of($res), sha256_hex('plain text'), 'text/plain: identical');
ok t_cmp(decision_of($res), 'fallback:not-json', 'text/plain: reason');
