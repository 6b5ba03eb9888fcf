/*
 * The SQLite floor of the key/value view (BENCHMARKS.md, "Ready-made views"): the view's statements from C,
 * nothing else, 100,000 rows, 500 per transaction. Schema and insert statement come from the environment:
 *
 *   gcc -O2 kv_floor.c -lsqlite3 -o /tmp/kv_floor
 *   E="CREATE TABLE e(n INTEGER PRIMARY KEY, id TEXT NOT NULL, key TEXT NOT NULL, feed BLOB NOT NULL,
 *      seq INTEGER NOT NULL, value BLOB NOT NULL, raw INTEGER NOT NULL, head INTEGER NOT NULL);
 *      CREATE UNIQUE INDEX i ON e(id); CREATE INDEX h ON e(key) WHERE head=1;
 *      CREATE TABLE l(id TEXT PRIMARY KEY) WITHOUT ROWID;"
 *   I="INSERT OR IGNORE INTO e(id,key,feed,seq,value,raw,head)
 *      VALUES (?,?,?,?,?,1,NOT EXISTS (SELECT 1 FROM l WHERE id=?))"
 *   LINKS=1 UP="SELECT n, key FROM e WHERE id=? AND head=1" NOSTAT=1 SCHEMA="$E" INS="$I" /tmp/kv_floor
 *   ... /tmp/kv_floor /tmp/floor.sqlite      (on disk, WAL, synchronous=NORMAL)
 *
 * LINKS: one entry in ten links the one before (as in ViewBenchmarks); NOSTAT: memory statistics off.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdlib.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){
  const char*path=argc>1?argv[1]:":memory:";
  if(getenv("NOSTAT")) sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  int N=100000,B=500; sqlite3*db; remove(path);
  sqlite3_open(path,&db);
  sqlite3_exec(db,"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",0,0,0);
  if(sqlite3_exec(db,getenv("SCHEMA"),0,0,0)){printf("schema %s\n",sqlite3_errmsg(db));return 1;}
  sqlite3_stmt*ins,*lk,*up;
  sqlite3_prepare_v3(db,getenv("INS"),-1,1,&ins,0);
  sqlite3_prepare_v3(db,"INSERT OR IGNORE INTO l(id) VALUES (?)",-1,1,&lk,0);
  sqlite3_prepare_v3(db,getenv("UP")?getenv("UP"):"UPDATE e SET head=0 WHERE id=? AND head=1 RETURNING key",-1,1,&up,0); sqlite3_stmt*up2; sqlite3_prepare_v3(db,"UPDATE e SET head=0 WHERE n=?",-1,1,&up2,0);
  unsigned char feed[32]; for(int i=0;i<32;i++)feed[i]=i*7; char fh[65]; for(int i=0;i<32;i++)sprintf(fh+2*i,"%02x",feed[i]);
  unsigned char val[150]; memset(val,'a',150);
  double t=now();
  for(int b=0;b<N;b+=B){
    sqlite3_exec(db,"BEGIN IMMEDIATE",0,0,0);
    for(int i=b;i<b+B;i++){
      char id[100],key[16]; sprintf(id,"%s@%d",fh,i); sprintf(key,"t%d",i%1000);
      sqlite3_bind_text(ins,1,id,-1,SQLITE_TRANSIENT); sqlite3_bind_text(ins,2,key,-1,SQLITE_TRANSIENT);
      sqlite3_bind_blob(ins,3,feed,32,SQLITE_TRANSIENT); sqlite3_bind_int64(ins,4,i);
      sqlite3_bind_blob(ins,5,val,150,SQLITE_TRANSIENT); if(sqlite3_bind_parameter_count(ins)>=6)sqlite3_bind_text(ins,6,id,-1,SQLITE_TRANSIENT);
      if(sqlite3_step(ins)!=SQLITE_DONE){printf("err %s\n",sqlite3_errmsg(db));return 1;} sqlite3_reset(ins);
      if(i%10==9 && getenv("LINKS")){ if(getenv("NOLINKED")) goto skip; char l[100]; sprintf(l,"%s@%d",fh,i-1);
        sqlite3_bind_text(lk,1,l,-1,SQLITE_TRANSIENT); sqlite3_step(lk); sqlite3_reset(lk); skip:;
        sqlite3_bind_text(up,1,l,-1,SQLITE_TRANSIENT); if(getenv("UP")){ while(sqlite3_step(up)==SQLITE_ROW){ sqlite3_int64 n=sqlite3_column_int64(up,0); sqlite3_bind_int64(up2,1,n); sqlite3_step(up2); sqlite3_reset(up2);} } else while(sqlite3_step(up)==SQLITE_ROW){} sqlite3_reset(up);}
    }
    sqlite3_exec(db,"COMMIT",0,0,0);
  }
  double dt=now()-t; printf("%s %.0f/s (%.2f us/entry)\n",path,N/dt,dt/N*1e6);
}
