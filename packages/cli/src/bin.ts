console.log('yard');
