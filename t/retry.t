# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Retries of LMCache calls: jittered backoff, no sleep after the last
# attempt, never past the caller's budget.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use KVCache::Test;
use KVCache::Server;

plan tests => 10;

my $server = KVCache::Server->new(
    name => 'retry', port => Apache::Test::vars('aux2_port'),
    conf => <<'CONF')->start;
KVCacheCircuitBreaker 1000 1s 1
KVCacheRetry 3 100ms 2s
KVCacheLookupTimeout 2s
<Location "/tight/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    KVCacheLookupTimeout 50ms
</Location>
<Location "/pin/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    KVCachePinning On
    KVCacheHotThreshold 1
    KVCachePin vllm-a LocalCPUBackend
</Location>
<Location "/kvcache-status">
    SetHandler kvcache-status
</Location>
CONF
my $ua = $server->client;

sub lookups { emu_calls('controller', '/lookup') }

# 502, 502, then 200: the third attempt succeeds.
emu_reset();
emu_config(lookup_override => { layout_info => {
    'vllm-b' => ['LocalCPUBackend', 512] } });
emu_fault(role => 'controller', path => '/lookup', status => 502, times => 2);
my ($res) = $server->post($ua, '/v1/chat/completions',
                          chat_body(content => unique_words(9)));
ok t_cmp(KVCache::Test::decision_of($res), 'routed', '502, 502, 200: routed');
ok t_cmp(served_by($res), 'vllm-b', '... to the matching member');
ok t_cmp(lookups(), 3, '... after exactly 3 calls');

# Failing all the time: 3 attempts, no more.
emu_fault(role => 'controller', path => '/lookup', status => 502);
($res) = $server->post($ua, '/v1/chat/completions',
                       chat_body(content => unique_words(9)));
ok t_cmp(KVCache::Test::decision_of($res), 'fallback:lookup-error',
         'always 502: falls back');
ok t_cmp(lookups(), 6, '... after ATTEMPTS calls');

# With 50ms of budget, 100ms backoff never fits: requests stay within it.
my ($slowest, $before) = (0, lookups());
for (1 .. 10) {
    my $t0 = time;
    ($res) = $server->post($ua, '/tight/v1/chat/completions',
                           chat_body(content => unique_words(9)));
    my $took = time - $t0;
    $slowest = $took if $took > $slowest;
}
my $made = lookups() - $before;
t_debug("tight budget: $made calls for 10 requests, slowest ${slowest}s");
# A loaded machine may answer the 502 after the budget: a timeout then.
ok t_cmp(KVCache::Test::decision_of($res) =~
             /^fallback:lookup-(error|timeout)$/ ? 1 : 0, 1,
         'tight budget: falls back');
ok t_cmp($made >= 10 && $made <= 30 ? 1 : 0, 1,
         "tight budget: between 1 and 3 calls per request ($made)");
ok t_cmp($slowest < 0.5 ? 1 : 0, 1,
         "retries never outlast the 50ms budget (slowest ${slowest}s)");
emu('/_emu/clear_faults', {});

# A management call: /pin answers 502, 502, then 200 -- one action, three
# calls, counted as sent.
emu_reset();
emu_fault(role => 'controller', path => '/pin', status => 502, times => 2);
$server->post($ua, '/pin/v1/chat/completions',
              chat_body(content => unique_words(9)));
my $deadline = time + 3;
sleep 0.05 while emu_calls('controller', '/pin') < 3 && time < $deadline;
ok t_cmp(emu_calls('controller', '/pin'), 3, '/pin: 502, 502, 200');
my $status = kv_json()->decode($server->get('/kvcache-status')->content);
ok t_cmp($status->{actions}{pin}{sent}, 1, 'the pin counts as sent');
emu_config(lookup_override => undef);
$server->stop;
