# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The token cache is shared by all child processes (socache shmcb), holds at
# most KVCacheTokenCacheSize entries (least recently used out first) and
# forgets entries after KVCacheTokenCacheTTL.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Time::HiRes qw(sleep);
use lib 't/lib';
use KVCache::Test;
use KVCache::Server;

plan tests => 9;

my $server = KVCache::Server->new(
    name => 'tokens', port => Apache::Test::vars('aux1_port'),
    conf => <<'CONF')->start;
KVCacheTokenCacheSize 3
KVCacheTokenCacheTTL 2s
CONF
my @ua = ($server->client, $server->client);
my @prompts = map { chat_body(content => unique_words(20)) } 0 .. 3;

sub tokenized { emu_calls('vllm-a', '/tokenize') }
sub send_prompt {
    my ($ua, $n) = @_;
    my ($res, $seq) = $server->post($ua, '/v1/chat/completions', $prompts[$n]);
    return $server->pid_of($seq);
}

emu_reset();
my $pid1 = send_prompt($ua[0], 0);
ok t_cmp(tokenized(), 1, 'first request tokenized');
my $pid2 = send_prompt($ua[1], 0);
ok t_cmp($pid1 != $pid2 ? 1 : 0, 1, "served by two children ($pid1, $pid2)");
ok t_cmp(tokenized(), 1, 'the other child found the tokens: one /tokenize');

# Size bound 3: prompts 1 and 2 fill it, prompt 3 evicts the least recently
# used (prompt 0).
send_prompt($ua[0], 1);
send_prompt($ua[1], 2);
ok t_cmp(tokenized(), 3, 'two more prompts tokenized');
send_prompt($ua[0], 3);
ok t_cmp(tokenized(), 4, 'a fourth prompt tokenized');
send_prompt($ua[1], 2);
ok t_cmp(tokenized(), 4, 'a recent entry is still cached');
send_prompt($ua[0], 0);
ok t_cmp(tokenized(), 5, 'the least recently used entry was evicted');

# TTL: 2s.
send_prompt($ua[1], 0);
ok t_cmp(tokenized(), 5, 'cached again');
sleep 2.5;
send_prompt($ua[1], 0);
ok t_cmp(tokenized(), 6, 'expired after KVCacheTokenCacheTTL');
$server->stop;
