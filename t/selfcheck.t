# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The startup self-check: in the background, once per generation, it finds
# what makes KV routing miss silently (a member without route=, a route=
# the controller does not know, an unreadable /metrics, a dead controller
# or /tokenize), says so in one warning each and counts the problems in
# kvcache_selfcheck_problems; a healthy configuration has none.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use KVCache::Test;
use KVCache::Server;

plan tests => 27;

my $vars = Apache::Test::vars();
my ($pa, $pb) = ($vars->{emu_a_port}, $vars->{emu_b_port});
# Nothing listens there while this test runs.
my $dead = $vars->{aux2_port};
my $status = <<'CONF';
<Location "/kvcache-status">
    SetHandler kvcache-status
</Location>
CONF

# The status handler's self-check object, once the check has completed.
sub selfcheck_of {
    my ($server) = @_;
    my $deadline = time + 15;
    my $sc;
    while (time < $deadline) {
        my $res = $server->get('/kvcache-status?format=json');
        $sc = $res->is_success ? kv_json()->decode($res->content)->{selfcheck}
                               : undef;
        return $sc if $sc && $sc->{completed};
        sleep 0.1;
    }
    return $sc // {};
}

sub warnings_of {
    my ($server) = @_;
    return grep { /\[kvcache\] self-check: / && !/self-check: done/ }
           split /\n/, $server->error_log;
}

# 1. Members: one without route=, one whose /metrics is dead and whose
# route= the controller does not know.
my $broken = KVCache::Server->new(
    name => 'selfcheck-broken', port => $vars->{aux1_port},
    conf => $status . <<"CONF")->start;
<Proxy "balancer://broken">
    BalancerMember "http://127.0.0.1:$pa" route=vllm-a
    BalancerMember "http://127.0.0.1:$pb"
    BalancerMember "http://127.0.0.1:$dead" route=vllm-gone
    ProxySet lbmethod=kvcache
</Proxy>
<Location "/broken/v1/">
    ProxyPass "balancer://broken/v1/"
    KVCacheEnable On
</Location>
CONF
my $sc = selfcheck_of($broken);
ok t_cmp($sc->{completed}, 1, 'the self-check ran in the background');
ok t_cmp($sc->{by_check}{route}, 1, 'one member without route=');
ok t_cmp($sc->{by_check}{metrics}, 1, 'one member whose /metrics is dead');
ok t_cmp($sc->{by_check}{instance}, 1, 'one route= the controller does not know');
ok t_cmp($sc->{by_check}{controller} + $sc->{by_check}{tokenize}
         + $sc->{by_check}{members}, 0, 'controller and /tokenize answer');
ok t_cmp($sc->{problems}, 3, 'three problems in all');
my $log = $broken->error_log;
ok t_cmp($log, qr{\[kvcache:warn\].*\[kvcache\] self-check: balancer://broken member http://127\.0\.0\.1:$pb has no route=},
         'the member without route= is named');
ok t_cmp($log, qr{\[kvcache\] self-check: balancer://broken member http://127\.0\.0\.1:$dead \(route=vllm-gone\): GET http://127\.0\.0\.1:$dead/metrics failed},
         'the dead /metrics is named');
ok t_cmp($log, qr{\[kvcache\] self-check: balancer://broken member http://127\.0\.0\.1:$dead: route=vllm-gone is not an instance id the LMCache controller knows},
         'the unknown instance id is named');
my @warn = warnings_of($broken);
ok t_cmp(scalar @warn, 3, 'one warning per problem');
ok t_cmp($log, qr/self-check: done, 3 problems/, 'and a summary');
my $prom = $broken->get('/kvcache-status?format=prometheus')->content;
ok t_cmp($prom, qr/^kvcache_selfcheck_problems\{check="route"\} 1$/m,
         'the gauge in the Prometheus text');
ok t_cmp($prom, qr/^kvcache_selfcheck_problems\{check="tokenize"\} 0$/m,
         'per check');
ok t_cmp($prom, qr/^kvcache_selfcheck_completed 1$/m, 'completed');
# Routing still works meanwhile: the check never blocks requests.
my ($res) = $broken->post($broken->client, '/broken/v1/chat/completions',
                          chat_body(content => 'self-check routing still works'));
ok t_cmp($res->code, 200, 'requests are served');
# A graceful restart checks again, in the new generation.
ok $broken->graceful;
my $deadline = time + 15;
sleep 0.1 while time < $deadline
    && (() = $broken->error_log =~ /self-check: done/g) < 2;
ok t_cmp(scalar(() = $broken->error_log =~ /self-check: done/g), 2,
         'checked again after a graceful restart');
ok t_cmp(selfcheck_of($broken)->{problems}, 3, 'the same problems');
$broken->stop;

# 2. The cache plane: a dead controller, a dead /tokenize.
my $plane = KVCache::Server->new(
    name => 'selfcheck-plane', port => $vars->{aux1_port},
    lmcache => "http://127.0.0.1:$dead",
    conf => $status . <<"CONF")->start;
<Location "/deadtok/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    KVCacheVLLMEndpoint "http://127.0.0.1:$dead"
</Location>
CONF
$sc = selfcheck_of($plane);
ok t_cmp($sc->{by_check}{controller}, 1, 'the dead controller');
ok t_cmp($sc->{by_check}{tokenize}, 1, 'the dead /tokenize');
ok t_cmp($sc->{problems}, 2, 'nothing else');
$log = $plane->error_log;
ok t_cmp($log, qr{self-check: KVCacheLMCacheEndpoint http://127\.0\.0\.1:$dead: the LMCache controller does not answer},
         'the controller directive is named');
ok t_cmp($log, qr{self-check: KVCacheVLLMEndpoint http://127\.0\.0\.1:$dead \(KVCacheEnable at .*:\d+\): POST http://127\.0\.0\.1:$dead/tokenize failed},
         'the tokenize directive is named, with where it is enabled');
$plane->stop;

# 3. Healthy: the usual three members, all known, all answering.
my $healthy = KVCache::Server->new(
    name => 'selfcheck-healthy', port => $vars->{aux1_port},
    conf => $status)->start;
$sc = selfcheck_of($healthy);
ok t_cmp($sc->{completed}, 1, 'healthy: the check ran');
ok t_cmp($sc->{problems}, 0, 'healthy: no problem');
ok t_cmp(scalar(warnings_of($healthy)), 0, 'healthy: no warning');
ok t_cmp($healthy->error_log, qr/self-check: done, 0 problems/,
         'healthy: the summary says so');
$healthy->stop;
